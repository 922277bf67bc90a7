"""Every dashboard panel proven on real data, and the console's Pipeline-health page in a real browser.

One grid pipeline (InfluxDB sink and archive on) runs for the whole module under a steady generator; Prometheus
scrapes the test stack's Flink, Kafka and the rest every 5 s and evaluates the recording rules. Each panel query of
every dashboard is then run the way Grafana would run it: PromQL through Prometheus' HTTP API, Flux against InfluxDB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from consoletesting import ConsoleProcess, chromium, produce, wait_until, write_pipeline
from gridpipe_dashboards.model import Dashboard, Panel, Query, concrete
from gridpipe_dashboards.panels import DASHBOARDS, PIPELINE_HEALTH
from gridpipe_generator.run import Generator, GeneratorConfig
from gridpipe_jobs.topics import ensure_topics
from gridpipe_schemas.pipeline import load_pipeline
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig
from jobtesting import RunningPipeline, cancel_quietly, grid_document, start_pipeline, unique
from sinktesting import flux

pytestmark = pytest.mark.e2e
RATE = 1000.0  # readings per second from the generator
# Panels with no source in the local stack: no operator runs there (on Kubernetes it does).
NOT_IN_THE_LOCAL_STACK = {"Reconciles", "Reconcile errors", "Reconcile duration p99", "Pipelines"}
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass
class LoadedPipeline:
    running: RunningPipeline
    stop: threading.Event

    @property
    def name(self) -> str:
        return self.running.pipeline.metadata.name

    @property
    def topic(self) -> str:
        return self.running.pipeline.spec.source.topic


@pytest.fixture(scope="module")
def loaded(local_stack: StackConfig) -> Iterator[LoadedPipeline]:
    # The stack's own console follows the example pipelines: with their topics it has a lag to report.
    for example in ("grid.yaml", "rocket.yaml"):
        ensure_topics(load_pipeline(EXAMPLES / example), local_stack.kafka_bootstrap)
    document = grid_document(unique("observed"))
    document["spec"]["sinks"] = {
        "influxdb": {"enabled": True, "bucket": "gridpipe"},
        "archive": {"enabled": True, "rolloverSizeMb": 8, "rolloverInterval": "10s"},
    }
    document["spec"]["source"]["startFrom"] = "latest"
    running = start_pipeline(local_stack, document)
    config = GeneratorConfig(
        PipelineKind.GRID,
        local_stack.kafka_bootstrap,
        local_stack.registry_url,
        running.pipeline.spec.source.topic,
        event_rate=RATE,
        meters=500,
        anomaly_rate=0.005,
        malformed_rate=0.002,
    )
    stop = threading.Event()
    generator = threading.Thread(target=Generator(config, progress=lambda _: None).run, args=(stop,), daemon=True)
    generator.start()
    loaded = LoadedPipeline(running, stop)
    try:
        wait_until(
            lambda: abs(ingestion_rate(local_stack, loaded.name) - RATE) <= 0.1 * RATE,
            240,
            f"the ingestion-rate panel within 10 % of the generator's {RATE:.0f}/s",
            every=5,
        )
        # The archive's series come from listing S3 every 15 s: its commit rate needs two listings after the first
        # commit.
        committed = f'gridpipe:archive_bytes_committed:rate5m{{pipeline="{loaded.name}"}}'
        wait_until(lambda: bool(instant(local_stack, committed)), 120, "the archive's commit rate", every=5)
        yield loaded
    finally:
        stop.set()
        generator.join(30)
        cancel_quietly(local_stack, running.job_id)


def instant(stack: StackConfig, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
    response = httpx.get(f"{stack.prometheus_url}/api/v1/query", params=params, timeout=30)
    body = response.json()
    assert body["status"] == "success", f"Prometheus refused {promql!r}: {body.get('error')}"
    results: list[dict[str, Any]] = body["data"]["result"]
    return results


def panel(dashboard: Dashboard, title: str) -> Panel:
    return next(p for p in dashboard.panels if p.title == title)


def value_of(stack: StackConfig, query: Query, pipeline: str, at: float | None = None) -> float:
    """The sum of a panel query's series, now or at a time (0 when it has none)."""
    results = instant(stack, concrete(query, pipeline=pipeline, rate_interval="1m").expr, at=at)
    return sum(float(r["value"][1]) for r in results)


def ingestion_rate(stack: StackConfig, pipeline: str) -> float:
    return value_of(stack, panel(PIPELINE_HEALTH, "Ingestion rate").queries[0], pipeline)


def test_every_panel_query_returns_data_from_the_running_pipeline(
    local_stack: StackConfig, loaded: LoadedPipeline
) -> None:
    empty = []
    for dashboard in DASHBOARDS:
        for shown in dashboard.panels:
            if shown.title in NOT_IN_THE_LOCAL_STACK:
                continue
            for query in shown.queries:
                concrete_query = concrete(query, pipeline=loaded.name, rate_interval="1m", range_start="-1h")
                if query.datasource == "prometheus":
                    found = bool(instant(local_stack, concrete_query.expr))
                else:
                    found = bool(flux(local_stack, concrete_query.expr))
                if not found:
                    empty.append(f"{dashboard.title} / {shown.title}: {concrete_query.expr}")
    assert not empty, "panel queries with no data:\n" + "\n".join(empty)


def appended(stack: StackConfig, topic: str) -> int:
    """Records appended to the topic so far: the sum of its partitions' end offsets, asked of Kafka."""
    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": unique("offsets")})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    finally:
        consumer.close()


def generator_rate(stack: StackConfig, topic: str, seconds: float = 60.0) -> tuple[float, float]:
    """The rate at which the generator's records reached the topic over the last minute, and when it ended: the
    same window as the panel's one-minute rate."""
    began, first = time.time(), appended(stack, topic)
    time.sleep(seconds)
    ended, last = time.time(), appended(stack, topic)
    return (last - first) / (ended - began), ended


def test_the_ingestion_rate_panel_matches_the_generator(local_stack: StackConfig, loaded: LoadedPipeline) -> None:
    produced, at = generator_rate(local_stack, loaded.topic)
    shown = value_of(local_stack, panel(PIPELINE_HEALTH, "Ingestion rate").queries[0], loaded.name, at=at)
    assert abs(shown - produced) <= 0.1 * produced, f"the panel shows {shown:.1f}/s; the topic got {produced:.1f}/s"


def test_the_dead_letter_panel_rises_when_malformed_records_are_sent(
    local_stack: StackConfig, loaded: LoadedPipeline
) -> None:
    dead_letters = panel(PIPELINE_HEALTH, "Dead letters and errors").queries[0]
    before = value_of(local_stack, dead_letters, loaded.name)
    produce(local_stack.kafka_bootstrap, loaded.topic, [b"not avro"] * 3000, per_second=300)
    # 3,000 more in a one-minute rate window is about 50/s more than before.
    wait_until(
        lambda: value_of(local_stack, dead_letters, loaded.name) >= before + 25,
        90,
        f"the dead-letter panel above {before + 25:.1f}/s (it was {before:.1f}/s before 3,000 malformed records)",
        every=5,
    )


def test_the_console_health_page_shows_the_ingestion_rate(
    local_stack: StackConfig, loaded: LoadedPipeline, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("health-console")
    document = loaded.running.pipeline.model_dump(mode="json", by_alias=True, exclude_none=True)
    console = ConsoleProcess(local_stack, [write_pipeline(directory, document)], directory / "console.log")
    console.start()
    try:
        produced, _ = generator_rate(local_stack, loaded.topic)
        shown, text, errors = read_ingestion_rate(f"{console.url}/pipeline-health?pipeline={loaded.name}")
    finally:
        console.stop()
    assert not errors, f"the page failed: {errors}"
    assert abs(shown - produced) <= 0.1 * produced, f"the page shows {text!r}; the topic got {produced:.1f}/s"
    assert text.endswith("rec/s"), f"the figure {text!r} has no unit"


def read_ingestion_rate(url: str) -> tuple[float, str, list[str]]:
    """The Ingestion-rate figure of the Pipeline-health page in Chromium: its value, its text, the page's errors."""
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.evaluate("() => window.gridpipeHealth.ready")
        figure = page.locator('[data-title="Ingestion rate"] .value').first
        figure.wait_for(timeout=30_000)
        return float(figure.get_attribute("data-value") or "nan"), figure.text_content() or "", errors
