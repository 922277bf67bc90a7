"""The grid pipeline on the real stack: Kafka, Apicurio and a Flink session cluster."""

from __future__ import annotations

import io
import itertools
import os
import signal
import statistics
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import fastavro
import httpx
import pytest

from gridpipe_generator.records import LABEL_HEADER, anomaly_label, parse_label
from gridpipe_generator.run import Generator, GeneratorConfig, build_stream
from gridpipe_jobs.severity import grid_severity
from gridpipe_schemas.catalog import parsed_avro
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig
from gridpipe_stack.supervise import Supervisor
from jobtesting import (
    assert_within_recovery_objective,
    consume,
    decode_avro,
    grid_document,
    reference_zscore,
    unique,
)

pytestmark = pytest.mark.integration
START_MS = 1_767_225_600_000


def _generate(stack: StackConfig, topic: str, **overrides: Any) -> GeneratorConfig:
    fields: dict[str, Any] = {
        "event_rate": 0,
        "count": 6000,
        "meters": 40,
        "seed": 21,
        "start_ms": START_MS,
        "anomaly_rate": 0.01,
        "malformed_rate": 0.0,
        "partitions": 2,
        **overrides,
    }
    cfg = GeneratorConfig(PipelineKind.GRID, stack.kafka_bootstrap, stack.registry_url, topic, **fields)
    summary = Generator(cfg, progress=lambda _: None).run()
    assert summary.failed == 0
    return cfg


def _readings(cfg: GeneratorConfig, reading_schema_id: int) -> list[tuple[dict[str, Any], str]]:
    """The generated stream, decoded, with labels: the ground truth of a run."""
    schema = parsed_avro("SensorReading")
    out = []
    for record in itertools.islice(build_stream(cfg, reading_schema_id, 0), cfg.count):
        if record.label.startswith("malformed:"):
            continue
        reading: Any = fastavro.schemaless_reader(io.BytesIO(record.value[5:]), schema, None)
        out.append((reading, record.label))
    return out


def _ms(value: Any) -> int:
    millis: int = round(value.timestamp() * 1000)
    return millis


def test_alerts_match_the_reference_and_the_labels(local_stack: StackConfig, run_pipeline: Any) -> None:
    name = unique("grid-it")
    document = grid_document(name, fields=["voltage", "current", "temperature"])
    running = run_pipeline(document)
    cfg = _generate(local_stack, running.pipeline.spec.source.topic)
    readings = _readings(cfg, reading_schema_id=1)

    z = running.pipeline.spec.detection.zscore
    assert z is not None
    expected: dict[tuple[str, int, str], float] = {}
    for field in z.fields:
        events = [(r["meter_id"], _ms(r["timestamp"]), r[field]) for r, _ in readings]
        for v in reference_zscore(
            events,
            k=z.threshold,
            min_samples=z.min_samples,
            window_ms=z.window.ms,
            bucket_ms=z.bucket.ms,
        ):
            expected[(v.key, v.time_ms, field)] = (v.value - v.mean) / v.stddev
    failures = {(r["meter_id"], _ms(r["timestamp"])) for r, _ in readings if r["status"] == "EQUIPMENT_FAILURE"}

    alerts = decode_avro(
        local_stack,
        consume(local_stack, running.pipeline.spec.outputs.anomalies_topic, expect=len(expected) + len(failures)),
    )
    by_key = {
        (a["original_event"]["meter_id"], _ms(a["original_event"]["timestamp"]), a["field"] or "status"): a
        for a in alerts
    }
    assert len(by_key) == len(alerts), "no alert twice in a clean run"

    statistical = {k: a for k, a in by_key.items() if k[2] != "status"}
    assert set(statistical) == set(expected)
    for key, alert in statistical.items():
        assert alert["deviation"] == pytest.approx(expected[key], rel=1e-6)
        direction = "SURGE" if expected[key] > 0 else ("SAG" if key[2] == "voltage" else "DROP")
        if key[2] == "temperature":
            direction = "HIGH" if expected[key] > 0 else "LOW"
        assert alert["anomaly_type"] == f"{key[2].upper()}_{direction}"
        assert alert["severity"] == grid_severity(expected[key])
        assert alert["threshold_used"] == 4.0 and alert["window"]["length_ms"] == 300_000
        assert alert["window"]["count"] >= 30 and alert["alert_id"].startswith(f"{name}:")
    assert {k[:2] for k, a in by_key.items() if k[2] == "status"} == failures
    assert all(a["severity"] == "CRITICAL" for k, a in by_key.items() if k[2] == "status")

    # Every labelled statistical anomaly on a meter whose window had warmed up was found.
    missed = []
    seen_per_meter: Counter[str] = Counter()
    for reading, label in readings:
        seen_per_meter[reading["meter_id"]] += 1
        category, kinds = parse_label(label)
        if category != "anomaly" or seen_per_meter[reading["meter_id"]] <= 60:
            continue
        for kind in kinds:
            field = {"VOLTAGE": "voltage", "CURRENT": "current", "TEMPERATURE": "temperature"}.get(kind.split("_")[0])
            if field and (reading["meter_id"], _ms(reading["timestamp"]), field) not in by_key:
                missed.append((label, reading["meter_id"]))
    labelled = sum(1 for r, lab in readings if lab.startswith("anomaly:"))
    assert len(missed) <= 0.05 * labelled, missed


def _decode_readings(messages: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """Each (message, reading) of a readings topic, in event-time order."""
    schema = parsed_avro("SensorReading")
    readings: list[tuple[Any, Any]] = [
        (m, fastavro.schemaless_reader(io.BytesIO(m.value()[5:]), schema, None)) for m in messages
    ]
    return sorted(readings, key=lambda pair: pair[1]["timestamp"])


def _probes(readings: list[tuple[Any, dict[str, Any]]]) -> list[tuple[Any, dict[str, Any], str]]:
    """Two labelled anomalies one second after the stream's last reading, each modelled on its meter's last
    message: a voltage surge 20 of the meter's own standard deviations above its last reading, and an equipment
    failure that repeats another meter's last values."""
    (failing_message, failing), (surging_message, surging) = readings[-2], readings[-1]
    assert failing["meter_id"] != surging["meter_id"]
    later = surging["timestamp"] + timedelta(seconds=1)
    own = [r["voltage"] for _, r in readings if r["meter_id"] == surging["meter_id"]]
    surge = {**surging, "timestamp": later, "voltage": surging["voltage"] + 20 * statistics.stdev(own)}
    failure = {**failing, "timestamp": later, "status": "EQUIPMENT_FAILURE"}
    return [
        (surging_message, surge, anomaly_label(["VOLTAGE_SURGE"])),
        (failing_message, failure, anomaly_label(["EQUIPMENT_FAILURE"])),
    ]


def _produce_like(stack: StackConfig, probes: list[tuple[Any, dict[str, Any], str]]) -> None:
    """Each probe reading as its model message was written: same topic, partition, key and schema id, labelled."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    for model, reading, label in probes:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, parsed_avro("SensorReading"), reading)
        producer.produce(
            model.topic(),
            model.value()[:5] + body.getvalue(),
            model.key(),
            partition=model.partition(),
            headers=[(LABEL_HEADER, label)],
        )
    assert producer.flush(30) == 0


def test_normal_traffic_raises_no_alert_and_the_anomalies_after_it_exactly_theirs(
    local_stack: StackConfig, run_pipeline: Any
) -> None:
    running = run_pipeline(grid_document(unique("grid-quiet"), fields=["voltage", "current", "temperature"]))
    spec = running.pipeline.spec
    normal = _generate(local_stack, spec.source.topic, anomaly_rate=0.0, seed=99)
    produced = _decode_readings(consume(local_stack, spec.source.topic, expect=normal.count))
    probes = _probes(produced)
    z = spec.detection.zscore
    assert z is not None
    readings = [reading for _, reading in produced] + [reading for _, reading, _ in probes]
    verdicts = {
        (v.key, field)
        for field in z.fields
        for v in reference_zscore(
            [(r["meter_id"], _ms(r["timestamp"]), r[field]) for r in readings],
            k=z.threshold,
            min_samples=z.min_samples,
            window_ms=z.window.ms,
            bucket_ms=z.bucket.ms,
        )
    }
    surge, failure = (reading for _, reading, _ in probes)
    assert verdicts == {(surge["meter_id"], "voltage")}, "the reference flags the surge and nothing else"

    _produce_like(local_stack, probes)
    expected = {(surge["meter_id"], "VOLTAGE_SURGE"), (failure["meter_id"], "EQUIPMENT_FAILURE")}
    consume(local_stack, spec.outputs.anomalies_topic, expect=len(expected), timeout=60)
    time.sleep(5)  # time for any further, wrong, alert to arrive
    messages = consume(local_stack, spec.outputs.anomalies_topic, idle=5, timeout=30)
    decoded = decode_avro(local_stack, messages)
    alerts = [(m.key().decode(), a["anomaly_type"]) for m, a in zip(messages, decoded, strict=True)]
    assert sorted(alerts) == sorted(expected), "no alert on normal traffic, and one for each injected anomaly"


def test_each_malformed_kind_is_dead_lettered_with_its_reason(local_stack: StackConfig, run_pipeline: Any) -> None:
    running = run_pipeline(grid_document(unique("grid-dlq")))
    cfg = _generate(local_stack, running.pipeline.spec.source.topic, malformed_rate=0.05, anomaly_rate=0.02, count=4000)
    produced = consume(local_stack, cfg.topic, expect=4000)
    malformed = {
        (m.partition(), m.offset()): (parse_label(dict(m.headers())[LABEL_HEADER].decode())[1][0], m)
        for m in produced
        if dict(m.headers())[LABEL_HEADER].startswith(b"malformed:")
    }
    letters = decode_avro(
        local_stack, consume(local_stack, running.pipeline.spec.outputs.dead_letter_topic, expect=len(malformed))
    )
    assert len(letters) == len(malformed)
    assert {reason for reason, _ in malformed.values()} == {
        "BAD_MAGIC_BYTE",
        "UNKNOWN_SCHEMA_ID",
        "TRUNCATED_AVRO",
        "MISSING_REQUIRED_FIELD",
        "NON_FINITE_NUMBER",
    }
    for letter in letters:
        reason, message = malformed[(letter["source_partition"], letter["source_offset"])]
        assert letter["reason"] == reason, letter
        assert letter["original_value"] == message.value() and letter["original_key"] == message.key()
        assert letter["source_topic"] == cfg.topic and letter["error_message"] and letter["pipeline"]
    # Good records kept flowing around the bad ones: every equipment failure still raised its alert.
    failures = sum(1 for m in produced if b"EQUIPMENT_FAILURE" in dict(m.headers())[LABEL_HEADER])
    alerts = decode_avro(local_stack, consume(local_stack, running.pipeline.spec.outputs.anomalies_topic, idle=8))
    assert sum(1 for a in alerts if a["anomaly_type"] == "EQUIPMENT_FAILURE") == failures
    overview = httpx.get(f"{local_stack.flink_url}/jobs/{running.job_id}", timeout=10).json()
    assert overview["state"] == "RUNNING"

    # Counted per reason in metrics, as Prometheus scrapes them from the TaskManager.
    wanted = Counter(reason for reason, _ in malformed.values())
    query = f'sum by (reason) (flink_taskmanager_job_task_operator_reason_deadLettered{{job_id="{running.job_id}"}})'
    counted: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while counted != wanted and time.monotonic() < deadline:
        time.sleep(2)
        result = httpx.get(f"{local_stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=10).json()
        counted = {r["metric"]["reason"]: int(float(r["value"][1])) for r in result["data"]["result"]}
    assert counted == wanted


def _checkpoints(stack: StackConfig, job_id: str) -> int:
    response = httpx.get(f"{stack.flink_url}/jobs/{job_id}/checkpoints", timeout=10).json()
    return int(response["counts"]["completed"])


def test_job_recovers_from_a_killed_taskmanager_within_the_rto_without_losing_an_anomaly(
    local_stack: StackConfig, run_pipeline: Any
) -> None:
    running = run_pipeline(grid_document(unique("grid-kill")))
    topic = running.pipeline.spec.source.topic
    first = _generate(local_stack, topic, count=3000, seed=7)
    deadline = time.monotonic() + 60
    while _checkpoints(local_stack, running.job_id) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _checkpoints(local_stack, running.job_id) >= 1

    taskmanager = Supervisor(local_stack).process("flink-taskmanager")
    os.kill(taskmanager.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    second = _generate(local_stack, topic, count=3000, seed=8, start_ms=START_MS + 3_600_000)
    recovery = _wait_for_recovery(local_stack, running.job_id, timeout=120)
    print(f"job running again {recovery - killed_at:.1f}s after the TaskManager was killed")
    assert_within_recovery_objective(recovery - killed_at)

    labelled = sum(
        1
        for cfg in (first, second)
        for r in itertools.islice(build_stream(cfg, 1, 0), cfg.count)
        if "EQUIPMENT_FAILURE" in r.label
    )
    failure_ids: set[str] = set()
    deadline = time.monotonic() + 120
    while len(failure_ids) < labelled and time.monotonic() < deadline:
        alerts = decode_avro(
            local_stack, consume(local_stack, running.pipeline.spec.outputs.anomalies_topic, idle=5, timeout=30)
        )
        failure_ids = {a["alert_id"] for a in alerts if a["anomaly_type"] == "EQUIPMENT_FAILURE"}
    assert len(failure_ids) == labelled, "every labelled failure alerted, duplicates removed by alert id"


def _wait_for_recovery(stack: StackConfig, job_id: str, timeout: float) -> float:
    """When the job, having failed over at least once, runs all its tasks again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        failed_over = httpx.get(f"{stack.flink_url}/jobs/{job_id}/exceptions", timeout=10).json()
        job = httpx.get(f"{stack.flink_url}/jobs/{job_id}", timeout=10).json()
        if (
            failed_over.get("exceptionHistory", {}).get("entries")
            and job["state"] == "RUNNING"
            and all(v["status"] == "RUNNING" for v in job["vertices"])
        ):
            return time.monotonic()
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not recover within {timeout:.0f}s")
