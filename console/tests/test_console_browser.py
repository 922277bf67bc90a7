"""The console end to end: real Kafka, Apicurio, Flink jobs, InfluxDB, the console process and a real Chromium.

One rocket and one grid pipeline run for the whole module; alerts are raised by producing telemetry and readings
into their inputs, so every alert the browser shows went through the real job.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from consoletesting import (
    PAGE_HOOKS,
    ConsoleProcess,
    chromium,
    produce,
    telemetry,
    wait_until,
    write_pipeline,
)
from gridpipe_generator.run import Generator, GeneratorConfig
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig
from jobtesting import RunningPipeline, cancel_quietly, grid_document, rocket_document, start_pipeline, unique

pytestmark = pytest.mark.e2e
WITH_HISTORY = {"influxdb": {"enabled": True, "bucket": "gridpipe"}}
mission_times = itertools.count(1000)
# Functions, not expressions: the page's CSP forbids eval, which Playwright needs for a bare expression.
CONNECTED = "() => document.querySelector('#connection').dataset.state === 'connected'"
DISCONNECTED = "() => document.querySelector('#connection').dataset.state !== 'connected'"


@pytest.fixture(scope="module")
def pipelines(local_stack: StackConfig) -> Iterator[dict[str, RunningPipeline]]:
    rocket = rocket_document(unique("console-rocket"))
    grid = grid_document(unique("console-grid"))
    for document in (rocket, grid):
        document["spec"]["sinks"] = WITH_HISTORY
        document["spec"]["source"]["startFrom"] = "latest"
    running = {"rocket": start_pipeline(local_stack, rocket), "grid": start_pipeline(local_stack, grid)}
    yield running
    for pipeline in running.values():
        cancel_quietly(local_stack, pipeline.job_id)


@pytest.fixture(scope="module")
def console(
    local_stack: StackConfig, pipelines: dict[str, RunningPipeline], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleProcess]:
    directory = tmp_path_factory.mktemp("console")
    files = [
        write_pipeline(directory, p.pipeline.model_dump(mode="json", by_alias=True, exclude_none=True))
        for p in pipelines.values()
    ]
    process = ConsoleProcess(local_stack, files, directory / "console.log", extra=["--max-live-rate", "50"])
    process.start()
    wait_for_assignment(process)
    yield process
    process.stop()


def wait_for_assignment(console: ConsoleProcess) -> None:
    """The console reads from the end of each anomalies topic: alerts raised before it is assigned are history."""
    wait_until(
        lambda: all(p["lag"] is not None for p in console.api("/api/status")["pipelines"]),
        60,
        "the console's consumer assigned to every anomalies topic",
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def open_page(browser: Any, console: ConsoleProcess) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.add_init_script(PAGE_HOOKS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    page.goto(console.url + "/")
    page.evaluate("() => window.gridpipeConsole.ready")
    return page


def rocket_topic(pipelines: dict[str, RunningPipeline]) -> str:
    return pipelines["rocket"].pipeline.spec.source.topic


def test_a_rocket_alert_shows_in_colour_with_its_telemetry_and_sounds_when_critical(
    local_stack: StackConfig, pipelines: dict[str, RunningPipeline], console: ConsoleProcess, browser: Any
) -> None:
    page = open_page(browser, console)
    produce(
        local_stack.kafka_bootstrap, rocket_topic(pipelines), [telemetry("Atlas-1", next(mission_times), thrust=0.0)]
    )
    row = page.locator("#live li.alert[data-level=critical]").first
    row.wait_for(timeout=30_000)
    assert "level-critical" in (row.get_attribute("class") or "")
    assert "Atlas-1" in row.inner_text() and "engine_shutdown" in row.inner_text()
    page.wait_for_function("() => window.__oscillators >= 1", timeout=5_000)  # the alarm sounded
    page.wait_for_function("() => window.__flashes >= 1", timeout=5_000)  # and the screen flashed
    page.wait_for_selector("#flash:not(.on)", state="attached", timeout=5_000)  # for a moment
    row.click()
    detail = page.locator("#detail")
    detail.wait_for(state="visible", timeout=5_000)
    assert (
        "engineEfficiency" in detail.inner_text() and "3150" in detail.inner_text()
    )  # the original telemetry (its engineTemp)

    page.keyboard.press("Escape")
    page.locator("#mute").click()  # muted: the next critical alert flashes but makes no sound
    sounded = page.evaluate("() => window.__oscillators")
    time.sleep(1.1)  # past the alarm's once-a-second throttle
    produce(
        local_stack.kafka_bootstrap, rocket_topic(pipelines), [telemetry("Atlas-2", next(mission_times), thrust=0.0)]
    )
    page.locator("#live li.alert", has_text="Atlas-2").first.wait_for(timeout=30_000)
    page.wait_for_function("() => window.__flashes >= 2", timeout=5_000)
    time.sleep(0.5)
    assert page.evaluate("() => window.__oscillators") == sounded
    page.locator("#mute").click()
    assert page.errors == []
    page.close()


def test_markup_in_telemetry_shows_as_text_and_never_runs(
    local_stack: StackConfig, pipelines: dict[str, RunningPipeline], console: ConsoleProcess, browser: Any
) -> None:
    page = open_page(browser, console)
    hostile = ["<img src=x onerror=window.__xss=1>", "<script>window.__xss=2</script>"]
    produce(
        local_stack.kafka_bootstrap,
        rocket_topic(pipelines),
        [telemetry(rocket, next(mission_times), engineTemp=3800.0) for rocket in hostile],
    )
    for rocket in hostile:
        page.locator("#live li.alert", has_text=rocket).first.wait_for(timeout=30_000)
    page.locator("#live li.alert", has_text=hostile[0]).first.click()
    page.locator("#detail").wait_for(state="visible", timeout=5_000)
    time.sleep(0.5)
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("#live img, #live script, #detail img, #detail script").count() == 0
    page.close()


def test_grid_alerts_show_with_the_reading_and_window(
    local_stack: StackConfig, pipelines: dict[str, RunningPipeline], console: ConsoleProcess, browser: Any
) -> None:
    page = open_page(browser, console)
    grid = pipelines["grid"].pipeline
    config = GeneratorConfig(
        PipelineKind.GRID,
        local_stack.kafka_bootstrap,
        local_stack.registry_url,
        grid.spec.source.topic,
        event_rate=0,
        count=4000,
        meters=20,
        seed=5,
        start_ms=int(time.time() * 1000) - 4000 * 50,
        anomaly_rate=0.01,
        malformed_rate=0.0,
        partitions=2,
    )
    assert Generator(config, progress=lambda _: None).run().failed == 0
    row = page.locator(f"#live li.alert[data-pipeline={grid.metadata.name}]").first
    row.wait_for(timeout=60_000)
    assert any(
        f"level-{level}" in (row.get_attribute("class") or "") for level in ("low", "medium", "high", "critical")
    )
    row.click()
    detail = page.locator("#detail")
    detail.wait_for(state="visible", timeout=5_000)
    assert "meter_id" in detail.inner_text() and "MTR" in detail.inner_text().upper()
    page.keyboard.press("Escape")
    if screenshot := os.environ.get("GRIDPIPE_CONSOLE_SCREENSHOT"):  # docs/images/console.png is taken here
        page.wait_for_timeout(2_000)  # a telemetry and status poll
        page.screenshot(path=screenshot)
    page.close()


def test_a_console_restart_loses_no_alert(
    local_stack: StackConfig, pipelines: dict[str, RunningPipeline], console: ConsoleProcess, browser: Any
) -> None:
    page = open_page(browser, console)
    topic = rocket_topic(pipelines)
    before = [telemetry("Restart-1", next(mission_times), fuelLeakRate=60.0) for _ in range(5)]
    produce(local_stack.kafka_bootstrap, topic, before)
    wait_until(lambda: page.locator("#live li.alert", has_text="Restart-1").count() == 5, 30, "5 alerts before")

    console.stop()
    page.wait_for_function(DISCONNECTED, timeout=15_000)
    during = [telemetry("Restart-2", next(mission_times), fuelLeakRate=60.0) for _ in range(5)]
    produce(local_stack.kafka_bootstrap, topic, during)
    console.start()

    page.wait_for_function(CONNECTED, timeout=30_000)
    wait_until(
        lambda: page.locator("#live li.alert", has_text="Restart-2").count() == 5, 60, "the 5 alerts raised while down"
    )
    assert page.locator("#live li.alert", has_text="Restart-1").count() == 5  # none twice
    history = console.api("/api/alerts", pipeline=pipelines["rocket"].pipeline.metadata.name, sensor="Restart-1")
    assert len(history["alerts"]) == 5
    page.close()


def test_a_flood_is_summarised_while_history_keeps_every_alert(
    local_stack: StackConfig, pipelines: dict[str, RunningPipeline], console: ConsoleProcess, browser: Any
) -> None:
    page = open_page(browser, console)
    name = pipelines["rocket"].pipeline.metadata.name
    flood = [telemetry(f"Flood-{i % 7}", next(mission_times), fuelLeakRate=60.0) for i in range(5000)]
    started = time.monotonic()
    produce(local_stack.kafka_bootstrap, rocket_topic(pipelines), flood, per_second=1000)
    produced_in = time.monotonic() - started

    page.locator("#live li.summary").first.wait_for(timeout=60_000)
    responded = time.monotonic()
    page.evaluate("() => 1 + 1")
    assert time.monotonic() - responded < 2.0, "the page stopped responding under the flood"

    def flood_in_history() -> int:
        """Distinct flood alerts in history, every page (pages overlap by a millisecond; ids tell)."""
        ids: set[str] = set()
        until = None
        while True:
            params: dict[str, Any] = {"pipeline": name, "minLevel": "medium", "limit": 1000}
            if until:
                params["until"] = until
            try:
                page_of = console.api("/api/alerts", **params)
            except httpx.HTTPStatusError as busy:  # InfluxDB still writing the flood may answer slowly: ask again
                if busy.response.status_code != 503:
                    raise
                return -1
            ids.update(a["id"] for a in page_of["alerts"] if a["sensor"].startswith("Flood-"))
            if not page_of["next"]:
                return len(ids)
            until = page_of["next"]["until"]

    wait_until(lambda: flood_in_history() == 5000, 120, "all 5,000 alerts in history", every=3)
    assert console.metric("gridpipe_console_alerts_summarised_total") > 0
    assert page.locator("#live li").count() <= 400  # the live list stays bounded
    heap = page.evaluate("() => (performance.memory ? performance.memory.usedJSHeapSize : 0)")
    assert heap < 200 * 2**20, f"the page holds {heap / 2**20:.0f} MiB after the flood"
    rss = int(Path(f"/proc/{console.process.pid}/status").read_text().split("VmRSS:")[1].split()[0]) * 1024  # type: ignore[union-attr]
    assert rss < 400 * 2**20, f"the console holds {rss / 2**20:.0f} MiB after the flood"
    print(f"flood of 5,000 produced in {produced_in:.1f} s")
    page.close()


def test_bad_input_is_counted_and_nothing_crashes(
    local_stack: StackConfig, pipelines: dict[str, RunningPipeline], console: ConsoleProcess, browser: Any
) -> None:
    rocket = pipelines["rocket"].pipeline
    anomalies = rocket.spec.outputs.anomalies_topic
    produce(local_stack.kafka_bootstrap, anomalies, [b"{not json", json.dumps({"alertId": "x"}).encode()])
    wait_until(
        lambda: console.metric("gridpipe_console_alerts_invalid_total", pipeline=rocket.metadata.name) >= 2,
        30,
        "both invalid alerts counted",
    )

    with connect(console.url.replace("http", "ws") + "/ws") as socket:
        for text in ("{oops", json.dumps({"kind": "subscribe", "pipelines": ["no-such-pipeline"]})):
            socket.send(text)
        answers = [json.loads(socket.recv(timeout=10)) for _ in range(3)]
    errors = [a["message"] for a in answers if a["kind"] == "error"]
    assert any("not JSON" in e for e in errors) and any("no such pipeline: no-such-pipeline" in e for e in errors)
    assert console.metric("gridpipe_console_bad_browser_messages_total") >= 2
    assert httpx.get(console.url + "/api/alerts", params={"pipeline": "nope"}).status_code == 400

    page = open_page(browser, console)  # the console still serves, and shows new alerts
    produce(
        local_stack.kafka_bootstrap, rocket.spec.source.topic, [telemetry("After-Bad", next(mission_times), thrust=0.0)]
    )
    page.locator("#live li.alert", has_text="After-Bad").first.wait_for(timeout=30_000)
    page.close()


def test_with_a_token_page_api_and_websocket_refuse_without_it(
    local_stack: StackConfig, pipelines: dict[str, RunningPipeline], tmp_path: Path, browser: Any
) -> None:
    token = "a-long-random-token-for-the-test-0123"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    files = [
        write_pipeline(tmp_path, pipelines["rocket"].pipeline.model_dump(mode="json", by_alias=True, exclude_none=True))
    ]
    guarded = ConsoleProcess(local_stack, files, tmp_path / "console.log", token_file=token_file)
    guarded.start()
    try:
        for path in ("/", "/api/pipelines", "/api/alerts", "/metrics"):
            assert httpx.get(guarded.url + path).status_code == 401, path
        with pytest.raises(InvalidStatus), connect(guarded.url.replace("http", "ws") + "/ws"):
            pass
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(guarded.url + "/api/pipelines", headers=bearer).status_code == 200
        page = browser.new_page()
        page.goto(f"{guarded.url}/?token={token}")  # sets the cookie, then the page and its WebSocket work
        page.evaluate("() => window.gridpipeConsole.ready")
        assert page.url == guarded.url + "/"
        page.wait_for_function(CONNECTED, timeout=15_000)
        page.close()
        assert token not in (tmp_path / "console.log").read_text()
    finally:
        guarded.stop()
