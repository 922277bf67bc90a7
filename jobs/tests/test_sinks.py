"""The sinks on the real stack: Kafka, Flink, InfluxDB 2 and SeaweedFS's S3 API, with outages of each."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from gridpipe_generator.records import parse_label
from gridpipe_generator.run import Generator, GeneratorConfig, build_stream
from gridpipe_jobs import archive
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig
from gridpipe_stack.stack import start_service, stop_service
from gridpipe_stack.supervise import Supervisor
from jobtesting import (
    assert_within_recovery_objective,
    consume,
    decode_avro,
    grid_document,
    rocket_document,
    unique,
)
from sinktesting import (
    archive_files,
    archive_query,
    archive_rows,
    influx_alerts,
    influx_original_events,
    operator_counter,
    prometheus_value,
    s3_access,
    wait_until,
)

pytestmark = pytest.mark.integration
# Today's midnight (UTC): event times must lie within the InfluxDB bucket's retention (30 days on the stack), or
# InfluxDB refuses the points (HTTP 422) and they are dead-lettered.
MIDNIGHT_MS = int(time.time() // 86_400 * 86_400_000)


def _document(name: str, *, influxdb: bool = True, archive: bool = True, **flink: str) -> dict[str, Any]:
    document = grid_document(name)
    document["spec"]["sinks"] = {
        "influxdb": {"enabled": influxdb},
        "archive": {"enabled": archive, "rolloverSizeMb": 8, "rolloverInterval": "10s"},
    }
    document["spec"]["flink"].update(flink)
    return document


def _generate(stack: StackConfig, topic: str, **overrides: Any) -> GeneratorConfig:
    fields: dict[str, Any] = {
        "event_rate": 0,
        "count": 5000,
        "meters": 40,
        "seed": 5,
        "start_ms": MIDNIGHT_MS,
        "anomaly_rate": 0.01,
        "malformed_rate": 0.0,
        "partitions": 2,
        **overrides,
    }
    cfg = GeneratorConfig(PipelineKind.GRID, stack.kafka_bootstrap, stack.registry_url, topic, **fields)
    summary = Generator(cfg, progress=lambda _: None).run()
    assert summary.failed == 0 and summary.sent == cfg.count
    return cfg


def _alert_ids(stack: StackConfig, topic: str, **wait: Any) -> set[str]:
    """Alert ids published on the anomalies topic (deduplicated: the Kafka output is at-least-once)."""
    return {a["alert_id"] for a in decode_avro(stack, consume(stack, topic, **wait))}


def _influx_points(
    stack: StackConfig, pipeline: Any, published: set[str], *, every: float = 2.0
) -> list[dict[str, str]]:
    """The pipeline's InfluxDB points, once every published alert is among them (within 60 s)."""
    points: list[dict[str, str]] = wait_until(
        f"the alerts of {pipeline.metadata.name} in InfluxDB",
        lambda: influx_alerts(stack, pipeline),
        lambda p: {a["alert_id"] for a in p} >= published,
        timeout=60,
        every=every,
    )
    return points


def _labelled_failures(cfg: GeneratorConfig) -> int:
    return sum(1 for r in itertools.islice(build_stream(cfg, 1, 0), cfg.count) if "EQUIPMENT_FAILURE" in r.label)


def _assert_archive_exported(stack: StackConfig, pipeline: Any, dataset: str) -> None:
    """Prometheus's gridpipe_archive_files and _bytes of the dataset equal the part files S3 lists (within 60 s)."""
    files, size = archive_files(stack, pipeline, dataset)
    assert files > 0
    selector = f'{{pipeline="{pipeline.metadata.name}", dataset="{dataset}"}}'

    def exported() -> tuple[float | None, float | None]:
        return (
            prometheus_value(stack, f"gridpipe_archive_files{selector}"),
            prometheus_value(stack, f"gridpipe_archive_bytes{selector}"),
        )

    def as_listed(found: tuple[float | None, float | None]) -> bool:
        return found == (float(files), float(size))

    wait_until(f"gridpipe_archive_* of {selector} in Prometheus", exported, as_listed, timeout=60, every=2)


def _influx_ids(stack: StackConfig, pipeline: Any) -> set[str]:
    return {p["alert_id"] for p in influx_alerts(stack, pipeline)}


@pytest.mark.timeout(600)  # a million readings through Flink, then each re-derived and checked: minutes here
def test_a_million_events_archived_exactly_once_and_every_alert_in_influxdb(
    local_stack: StackConfig, run_pipeline: Any
) -> None:
    running = run_pipeline(_document(unique("sinks-million")))
    pipeline = running.pipeline
    # 10,000 meters read once a second: a million readings span 100 s of event time, across midnight.
    cfg = _generate(
        local_stack,
        pipeline.spec.source.topic,
        count=1_000_000,
        meters=10_000,
        anomaly_rate=0.001,
        seed=11,
        start_ms=MIDNIGHT_MS - 50_000,
    )
    wait_until(
        "archived readings",
        lambda: archive_rows(local_stack, pipeline, "readings"),
        lambda n: n >= cfg.count,
        timeout=240,
        every=3,
    )
    time.sleep(5)  # one more checkpoint: nothing beyond the produced count may arrive late
    [(rows, distinct, wrong_day)] = archive_query(
        local_stack,
        pipeline,
        "SELECT count(*), count(DISTINCT (meter_id, timestamp)),"
        " count(*) FILTER (WHERE strftime(timestamp, '%Y-%m-%d') <> year || '-' || month || '-' || day)"
        " FROM readings",
    )
    assert (rows, distinct, wrong_day) == (cfg.count, cfg.count, 0)
    days = archive_query(
        local_stack, pipeline, "SELECT year || month || day, count(*) FROM readings GROUP BY ALL ORDER BY ALL"
    )
    day = [datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%d") for ms in (MIDNIGHT_MS - 1, MIDNIGHT_MS)]
    assert days == [(day[0], 500_000), (day[1], 500_000)]

    published = _alert_ids(local_stack, pipeline.spec.outputs.anomalies_topic, idle=5)
    points = _influx_points(local_stack, pipeline, published)
    assert len(points) == len({p["alert_id"] for p in points}) == len(published), "each alert is one point"
    # Every point carries its reading as JSON text, through line protocol and back.
    originals = influx_original_events(local_stack, pipeline)
    assert len(originals) == len(points)
    for original in originals:
        reading = json.loads(original["original_event"])
        assert reading["meter_id"] == original["sensor_id"]
        assert reading["timestamp"] == int(datetime.fromisoformat(original["time"]).timestamp() * 1000)
    failures = _labelled_failures(cfg)
    assert sum(1 for p in points if p["anomaly_type"] == "EQUIPMENT_FAILURE") == failures > 0
    labelled_surges = {
        (r.key.decode(), t)
        for r in itertools.islice(build_stream(cfg, 1, 0), cfg.count)
        for category, kinds in [parse_label(r.label)]
        if category == "anomaly" and any(k.startswith("VOLTAGE") for k in kinds)
        for t in [r.timestamp_ms]
    }
    found = {
        (p["sensor_id"], int(datetime.fromisoformat(p["time"]).timestamp() * 1000))
        for p in points
        if p["anomaly_type"].startswith("VOLTAGE")
    }
    # A meter's first readings only warm its window up (minSamples 30 of its 100): count those after warm-up.
    warm = {key for key in labelled_surges if key[1] >= MIDNIGHT_MS - 50_000 + 40_000}
    assert len(warm & found) >= 0.95 * len(warm) > 0
    [(anomalies,)] = archive_query(local_stack, pipeline, "SELECT count(DISTINCT alert_id) FROM anomalies")
    assert anomalies == len(published), "the archive holds every anomaly too"


def test_influxdb_outage_retries_then_dead_letters_and_resumes(local_stack: StackConfig, run_pipeline: Any) -> None:
    running = run_pipeline(_document(unique("sinks-influx-down"), archive=False))
    pipeline, topic = running.pipeline, running.pipeline.spec.source.topic
    first = _generate(local_stack, topic, seed=21)
    wait_until(
        "first alerts in InfluxDB",
        lambda: _influx_ids(local_stack, pipeline),
        lambda ids: len(ids) >= _labelled_failures(first) > 0,
        timeout=60,
    )
    written_before = _influx_ids(local_stack, pipeline)

    stop_service(local_stack, "influxdb")
    try:
        _generate(local_stack, topic, seed=22, start_ms=MIDNIGHT_MS + 3_600_000)
        published = _alert_ids(local_stack, pipeline.spec.outputs.anomalies_topic, idle=5)
        outage_alerts = published - written_before
        assert outage_alerts
        letters = wait_until(
            "dead letters of the outage",
            lambda: consume(local_stack, pipeline.spec.outputs.dead_letter_topic, idle=3, timeout=20),
            lambda found: len(found) >= len(outage_alerts),
            timeout=90,
            every=2,
        )
        decoded = decode_avro(local_stack, letters)
        assert {d["reason"] for d in decoded} == {"SINK_FAILURE"}
        assert all("unreachable" in d["error_message"] and "4 attempts" in d["error_message"] for d in decoded)
        lines = [d["original_value"].decode() for d in decoded]
        assert all(line.startswith("grid_anomaly,") for line in lines)
        assert {line.split('alert_id="')[1].split('"')[0] for line in lines} == outage_alerts
        job = httpx.get(f"{local_stack.flink_url}/jobs/{running.job_id}", timeout=10).json()
        assert job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"])
        failed_batches = operator_counter(local_stack, running.job_id, "influx_sink", "influxdb.failures")
        assert operator_counter(local_stack, running.job_id, "influx_sink", "influxdb.retries") == 3 * failed_batches
        dead = operator_counter(local_stack, running.job_id, "influx_sink", "influxdb.deadLettered")
        assert dead == len(outage_alerts) and failed_batches >= 1
    finally:
        start_service(local_stack, "influxdb", echo=lambda _: None)

    third = _generate(local_stack, topic, seed=23, start_ms=MIDNIGHT_MS + 7_200_000)
    wait_until(
        "alerts after InfluxDB returned",
        lambda: _influx_ids(local_stack, pipeline) - written_before,
        lambda new: len(new) >= _labelled_failures(third),
        timeout=60,
    )
    query = f'sum(flink_taskmanager_job_task_operator_influxdb_deadLettered{{job_id="{running.job_id}"}})'
    wait_until(
        "dead letters counted in Prometheus",
        lambda: prometheus_value(local_stack, query),
        lambda value: value is not None and int(value) == len(outage_alerts),
        timeout=60,
        every=2,
    )


def test_seaweedfs_outage_holds_up_no_alert_and_the_archive_ends_complete(
    local_stack: StackConfig, run_pipeline: Any
) -> None:
    running = run_pipeline(_document(unique("sinks-s3-down"), influxdb=False, maxRestartBackoff="5s"))
    pipeline, topic = running.pipeline, running.pipeline.spec.source.topic
    anomalies = pipeline.spec.outputs.anomalies_topic
    first = _generate(local_stack, topic, count=20_000, seed=31)
    wait_until(
        "first archive", lambda: archive_rows(local_stack, pipeline, "readings"), lambda n: n == first.count, timeout=90
    )
    before = _alert_ids(local_stack, anomalies, idle=2)

    stop_service(local_stack, "seaweedfs")
    try:
        second = _generate(local_stack, topic, count=20_000, seed=32, start_ms=MIDNIGHT_MS + 3_600_000)
        # No S3 on the alert path: the second hour's alerts are published while the archive cannot write.
        wait_until(
            "alerts of the second hour while S3 is away",
            lambda: _alert_ids(local_stack, anomalies, idle=2) - before,
            bool,
            timeout=60,
            every=1,
        )
    finally:
        start_service(local_stack, "seaweedfs", echo=lambda _: None)
    total = (first.count or 0) + (second.count or 0)
    wait_until(
        "complete archive", lambda: archive_rows(local_stack, pipeline, "readings"), lambda n: n >= total, timeout=180
    )
    time.sleep(5)
    [(rows, distinct)] = archive_query(
        local_stack, pipeline, "SELECT count(*), count(DISTINCT (meter_id, timestamp)) FROM readings"
    )
    assert (rows, distinct) == (total, total)
    job = httpx.get(f"{local_stack.flink_url}/jobs/{running.job_id}", timeout=10).json()
    assert job["state"] == "RUNNING"


def _recovered(stack: StackConfig, job_id: str) -> bool:
    history = httpx.get(f"{stack.flink_url}/jobs/{job_id}/exceptions", timeout=10).json()
    job = httpx.get(f"{stack.flink_url}/jobs/{job_id}", timeout=10).json()
    return bool(
        history.get("exceptionHistory", {}).get("entries")
        and job["state"] == "RUNNING"
        and all(v["status"] == "RUNNING" for v in job["vertices"])
    )


def test_killed_taskmanager_recovers_within_a_minute_and_the_archive_stays_exact(
    local_stack: StackConfig, run_pipeline: Any
) -> None:
    running = run_pipeline(_document(unique("sinks-kill")))
    pipeline, topic = running.pipeline, running.pipeline.spec.source.topic
    first = _generate(local_stack, topic, count=50_000, meters=500, seed=41)
    wait_until(
        "part of the archive committed",
        lambda: archive_rows(local_stack, pipeline, "readings"),
        lambda n: n > 0,
        timeout=90,
    )
    os.kill(Supervisor(local_stack).process("flink-taskmanager").pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_until("recovery", lambda: _recovered(local_stack, running.job_id), bool, timeout=120, every=0.25)
    rto = time.monotonic() - killed
    print(f"RTO: job running again {rto:.1f}s after the TaskManager was killed")
    assert_within_recovery_objective(rto)

    second = _generate(local_stack, topic, count=50_000, meters=500, seed=42, start_ms=MIDNIGHT_MS + 3_600_000)
    total = (first.count or 0) + (second.count or 0)
    wait_until("archive", lambda: archive_rows(local_stack, pipeline, "readings"), lambda n: n >= total, timeout=180)
    time.sleep(5)
    [(rows, distinct)] = archive_query(
        local_stack, pipeline, "SELECT count(*), count(DISTINCT (meter_id, timestamp)) FROM readings"
    )
    assert (rows, distinct) == (total, total)
    published = _alert_ids(local_stack, pipeline.spec.outputs.anomalies_topic, idle=5)
    points = _influx_points(local_stack, pipeline, published)
    assert len(points) == len(published), "replayed alerts landed on the same points"


def test_rocket_telemetry_and_alerts_reach_both_sinks(local_stack: StackConfig, run_pipeline: Any) -> None:
    document = rocket_document(unique("sinks-rocket"))
    document["spec"]["sinks"] = _document("unused")["spec"]["sinks"]
    running = run_pipeline(document)
    pipeline = running.pipeline
    cfg = GeneratorConfig(
        PipelineKind.ROCKET,
        local_stack.kafka_bootstrap,
        local_stack.registry_url,
        pipeline.spec.source.topic,
        event_rate=0,
        count=3000,
        rockets=3,
        seed=4,
        anomaly_rate=0.05,
        malformed_rate=0.02,
        start_ms=MIDNIGHT_MS,
    )
    assert Generator(cfg, progress=lambda _: None).run().failed == 0
    wellformed = sum(1 for r in itertools.islice(build_stream(cfg), cfg.count) if not r.label.startswith("malformed:"))
    wait_until(
        "archived telemetry",
        lambda: archive_rows(local_stack, pipeline, "telemetry"),
        lambda n: n >= wellformed,
        timeout=90,
    )
    published = {json.loads(m.value())["alertId"] for m in consume(local_stack, pipeline.spec.outputs.anomalies_topic)}
    assert published
    points = _influx_points(local_stack, pipeline, published, every=1.0)
    assert len(points) == len(published)
    [(telemetry, days)] = archive_query(
        local_stack, pipeline, "SELECT count(*), count(DISTINCT year || month || day) FROM telemetry"
    )
    [(alerts,)] = archive_query(local_stack, pipeline, 'SELECT count(DISTINCT "alertId") FROM anomalies')
    assert (telemetry, days, alerts) == (wellformed, 1, len(published))
    # What the archive holds, in Prometheus from the stack's archive exporter: the same files and bytes as S3 lists.
    for dataset in ("telemetry", "anomalies"):
        _assert_archive_exported(local_stack, pipeline, dataset)

    s3 = s3_access(local_stack)
    env = {
        "GRIDPIPE_S3_ENDPOINT": s3.endpoint,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
    }
    per_day = CliRunner().invoke(archive.app, ["query", pipeline.metadata.name, "-q", "counts-per-day"], env=env)
    assert per_day.exit_code == 0, per_day.output
    assert per_day.output.splitlines()[1].endswith(f"\t{wellformed}")
    per_rocket = CliRunner().invoke(
        archive.app, ["query", pipeline.metadata.name, "-q", "anomalies-per-meter", "--limit", "1000"], env=env
    )
    assert sum(int(line.split("\t")[1]) for line in per_rocket.output.splitlines()[1:]) == len(published)
    missing = CliRunner().invoke(archive.app, ["query", "no-such-pipeline", "-q", "counts-per-day"], env=env)
    assert missing.exit_code == 2 and "no archive of pipeline no-such-pipeline" in missing.output
