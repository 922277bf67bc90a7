"""ZSCORE on the real stack: a steady meter's rounding is no spread, and a late reading is counted, not judged."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import httpx
import pytest

from gridpipe_schemas.catalog import avro, parsed_avro
from gridpipe_schemas.registry import SchemaRegistry
from gridpipe_schemas.subjects import value_subject
from gridpipe_stack.config import StackConfig
from jobtesting import ReferenceZScore, consume, decode_avro, grid_document, unique
from sinktesting import archive_query, archive_rows, wait_until

pytestmark = pytest.mark.integration
T0 = 1_767_225_600_000  # 2026-01-01, on a bucket boundary
SECOND = 1000
WINDOW_MS = 300_000


def _readings() -> list[tuple[str, int, float, str]]:
    """(meter, event time, voltage, status), in the order they are produced."""
    steady = [("MTR-STEADY", T0 + i * SECOND, 230.1, "OK") for i in range(60)]
    # 230.1 V has no exact binary value: a sum of squares saw a stddev of 4e-6 and made this a 25,170-sigma alert.
    steady.append(("MTR-STEADY", T0 + 60 * SECOND, 230.2, "OK"))
    varied = [("MTR-LATE", T0 + i * SECOND, 230.0 + (i % 3) / 10, "OK") for i in range(60)]
    varied += [
        ("MTR-LATE", T0 + 60 * SECOND, 300.0, "OK"),  # an outlier: alerts
        ("MTR-LATE", T0 + 460 * SECOND, 230.1, "OK"),  # the newest: its window is empty
        ("MTR-LATE", T0 + 100 * SECOND, 300.0, "EQUIPMENT_FAILURE"),  # older than newest - window: late
        ("MTR-LATE", T0 + 200 * SECOND, 300.0, "OK"),  # out of order, not late: judged against what is held
    ]
    return steady + varied


def _produce(stack: StackConfig, topic: str, readings: list[tuple[str, int, float, str]]) -> None:
    from confluent_kafka import Producer

    with SchemaRegistry(stack.registry_url) as registry:
        schema_id = registry.register(value_subject(topic), avro("SensorReading")).schema_id
    schema = parsed_avro("SensorReading")
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True})
    for meter, t, voltage, status in readings:
        body = io.BytesIO()
        record = {"meter_id": meter, "timestamp": t, "voltage": voltage, "current": 10.0, "temperature": 35.0}
        fastavro.schemaless_writer(body, schema, {**record, "status": status})
        producer.produce(topic, key=meter.encode(), value=b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue())
    assert producer.flush(30) == 0


def _late_readings(stack: StackConfig, job_id: str) -> dict[str, int]:
    query = f'flink_taskmanager_job_task_operator_field_lateReadings{{job_id="{job_id}"}}'
    result = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": query}, timeout=10).json()
    return {r["metric"]["field"]: int(float(r["value"][1])) for r in result["data"]["result"]}


def test_rounding_is_no_spread_and_a_late_reading_is_counted_archived_and_status_checked(
    local_stack: StackConfig, run_pipeline: Any
) -> None:
    document = grid_document(unique("zscore-num"))
    document["spec"]["sinks"] = {"archive": {"enabled": True, "rolloverInterval": "10s"}}
    running = run_pipeline(document)
    readings = _readings()
    _produce(local_stack, running.pipeline.spec.source.topic, readings)

    rule = ReferenceZScore(k=4.0, min_samples=30, window_ms=WINDOW_MS, bucket_ms=10_000)
    expected = {(m, t) for m, t, v, _ in readings if rule.judge(m, t, v) is not None}
    assert expected == {("MTR-LATE", T0 + 60 * SECOND), ("MTR-LATE", T0 + 200 * SECOND)} and rule.late == 1

    alerts = decode_avro(local_stack, consume(local_stack, running.pipeline.spec.outputs.anomalies_topic, idle=8))
    found = {
        (a["original_event"]["meter_id"], round(a["original_event"]["timestamp"].timestamp() * 1000), a["anomaly_type"])
        for a in alerts
    }
    assert found == {
        ("MTR-LATE", T0 + 60 * SECOND, "VOLTAGE_SURGE"),
        ("MTR-LATE", T0 + 200 * SECOND, "VOLTAGE_SURGE"),
        ("MTR-LATE", T0 + 100 * SECOND, "EQUIPMENT_FAILURE"),  # the late reading's status is still checked
    }

    counted = wait_until(
        "lateReadings in Prometheus",
        lambda: _late_readings(local_stack, running.job_id),
        lambda c: c == {"voltage": 1},
        timeout=60,
        every=2,
    )
    assert counted == {"voltage": 1}
    wait_until(
        "archived readings",
        lambda: archive_rows(local_stack, running.pipeline, "readings"),
        lambda n: n >= len(readings),
        timeout=90,
        every=3,
    )
    late = "SELECT voltage, status FROM readings WHERE meter_id = 'MTR-LATE' AND status = 'EQUIPMENT_FAILURE'"
    assert archive_query(local_stack, running.pipeline, late) == [(300.0, "EQUIPMENT_FAILURE")], "archived as any"
    assert archive_rows(local_stack, running.pipeline, "readings") == len(readings)
