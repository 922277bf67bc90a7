"""The alert rules on the real stack: InfluxDB stopped under load makes GridpipeSinkFailing fire in Alertmanager
within its `for:` and two evaluation intervals (plus a scrape), and resolve once InfluxDB is back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gridpipe_generator.run import Generator, GeneratorConfig
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig
from gridpipe_stack.services import prometheus_config
from gridpipe_stack.stack import start_service, stop_service
from jobtesting import grid_document, unique
from sinktesting import wait_until

pytestmark = pytest.mark.integration

ALERT = "GridpipeSinkFailing"
RULES = Path(__file__).resolve().parents[1] / "rules"


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60}
    return int(duration[:-1]) * units[duration[-1]]


def _alert_rule(name: str) -> tuple[int, int]:
    """The alert's `for:` and its group's evaluation interval, in seconds, as alerts.yml has them."""
    for group in yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                return _seconds(rule.get("for", "0s")), _seconds(group["interval"])
    raise AssertionError(f"no alert {name} in {RULES / 'alerts.yml'}")


def _query(stack: StackConfig, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def _seen(stack: StackConfig, pipeline: str) -> dict[str, Any]:
    """What each side knows of the alert for this pipeline: Alertmanager's active alerts, Prometheus's rule state,
    and the raw retry counter behind it."""
    alerts = httpx.get(
        f"{stack.alertmanager_url}/api/v2/alerts",
        params=[("filter", f'alertname="{ALERT}"'), ("filter", f'pipeline="{pipeline}"')],
        timeout=10,
    ).json()
    rules = httpx.get(f"{stack.prometheus_url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    retries = _query(
        stack, f'sum(flink_taskmanager_job_task_operator_influxdb_retries{{job_name="gridpipe-{pipeline}"}})'
    )
    return {
        "alertmanager": [(a["status"]["state"], a["startsAt"]) for a in alerts],
        "prometheus": [
            (r["state"], r["activeAt"])
            for r in rules
            if r["labels"].get("alertname") == ALERT and r["labels"].get("pipeline") == pipeline
        ],
        "retries": float(retries[0]["value"][1]) if retries else None,
    }


@pytest.fixture
def generator_load(local_stack: StackConfig) -> Iterator[Any]:
    """Start a grid generator at 200 events/s (2 % anomalies: a few alerts a second) on a topic, until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(topic: str) -> None:
        cfg = GeneratorConfig(
            PipelineKind.GRID,
            local_stack.kafka_bootstrap,
            local_stack.registry_url,
            topic,
            event_rate=200,
            meters=200,
            anomaly_rate=0.02,
            partitions=2,
            seed=16,
        )
        thread = threading.Thread(target=Generator(cfg, progress=lambda _: None).run, args=(stop,), daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(timeout=60)


@pytest.mark.timeout(600)
def test_influxdb_outage_fires_sink_failing_in_alertmanager_and_resolves(
    local_stack: StackConfig, run_pipeline: Any, generator_load: Any
) -> None:
    name = unique("alerting-sink")
    document = grid_document(name)
    document["spec"]["sinks"] = {"influxdb": {"enabled": True}, "archive": {"enabled": False}}
    running = run_pipeline(document)
    generator_load(running.pipeline.spec.source.topic)
    for_seconds, evaluation = _alert_rule(ALERT)
    scrape: Any = prometheus_config(local_stack)["global"]
    scrape_seconds = _seconds(scrape["scrape_interval"])

    wait_until(
        f"points of {name} written to InfluxDB, by the recorded series",
        lambda: _query(local_stack, f'gridpipe:influxdb_points:rate1m{{pipeline="{name}",outcome="written"}}'),
        lambda r: bool(r) and float(r[0]["value"][1]) > 0,
        timeout=120,
        every=2,
    )
    assert _seen(local_stack, name)["alertmanager"] == []

    stop_service(local_stack, "influxdb")
    try:
        wait_until(
            f"InfluxDB retries of {name} in Prometheus",
            lambda: _seen(local_stack, name),
            lambda seen: (seen["retries"] or 0) > 0,
            timeout=90,
        )
        retries_seen = time.monotonic()
        # The recording group and the alert group each evaluate once after the scrape; then `for:` runs.
        budget = for_seconds + 2 * evaluation + scrape_seconds
        fired = wait_until(
            f"{ALERT} for {name} active in Alertmanager within {budget}s of the first retry scraped",
            lambda: _seen(local_stack, name),
            lambda seen: [state for state, _ in seen["alertmanager"]] == ["active"],
            timeout=budget,
        )
        took = time.monotonic() - retries_seen
        print(f"{ALERT} active in Alertmanager {took:.1f}s after the first retry reached Prometheus: {fired}")
    finally:
        start_service(local_stack, "influxdb", echo=lambda _: None)
    back = time.monotonic()

    # Resolved once no retry for the 1 m rate window, then a scrape and both evaluations.
    resolve_budget = 60 + scrape_seconds + 2 * evaluation + 30  # + 30 s for batches still backing off at restart
    resolved = wait_until(
        f"{ALERT} for {name} resolved after InfluxDB came back",
        lambda: _seen(local_stack, name),
        lambda seen: seen["alertmanager"] == [] and seen["prometheus"] == [],
        timeout=resolve_budget,
        every=2,
    )
    print(f"{ALERT} resolved {time.monotonic() - back:.1f}s after InfluxDB was ready again: {resolved}")
