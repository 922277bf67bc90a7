"""The real local stack: Kafka, Apicurio, a Flink session cluster, Prometheus and Alertmanager, as processes."""

from __future__ import annotations

import struct
import time
from typing import Any

import httpx
import pytest

from gridpipe_jobs import flinkrest
from gridpipe_stack import smoke
from gridpipe_stack.config import StackConfig
from gridpipe_stack.supervise import Supervisor

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smoke_job(local_stack: StackConfig) -> Any:
    topics = smoke.SmokeTopics("it-readings", "it-readings-flagged")
    job_id = smoke.run_smoke_job(local_stack, topics)
    flinkrest.wait_for_state(local_stack.flink_url, job_id, "RUNNING", timeout=90)
    yield topics, job_id
    flinkrest.cancel(local_stack.flink_url, job_id)


def test_avro_record_round_trips_through_registry_and_flink_sql(local_stack: StackConfig, smoke_job: Any) -> None:
    topics, _ = smoke_job
    readings = smoke.sample_readings(50, start_ms=1_750_000_000_000)
    schema_id = smoke.produce_readings(local_stack, topics.source, readings)
    assert schema_id > 0

    out = list(smoke.consume_avro(local_stack, topics.sink, len(readings), timeout=90))

    assert [(r["meter_id"], r["voltage"]) for r in out] == [(r["meter_id"], r["voltage"]) for r in readings]
    assert [r["high"] for r in out] == [r["voltage"] > 250 for r in readings]
    assert int(out[0]["ts"].timestamp() * 1000) == readings[0]["ts"]
    # Flink registered its output schema under the sink's subject, through the same Confluent-compatible API.
    subjects = httpx.get(f"{local_stack.registry_url}/subjects", timeout=10).json()
    assert {f"{topics.source}-value", f"{topics.sink}-value"} <= set(subjects)


def test_registry_keeps_schema_ids_across_restart(local_stack: StackConfig) -> None:
    topic = "it-restart"
    smoke.create_topics(local_stack, topic)
    schema_id = smoke.produce_readings(local_stack, topic, smoke.sample_readings(3))
    supervisor = Supervisor(local_stack)
    apicurio = next(s for s in _services(local_stack) if s.name == "apicurio")

    supervisor.stop("apicurio")
    assert not apicurio.probe()
    supervisor.start(apicurio)

    latest = httpx.get(f"{local_stack.registry_url}/subjects/{topic}-value/versions/latest", timeout=10).json()
    assert latest["id"] == schema_id
    # A record written before the restart still decodes: its wire-format id resolves to the same schema.
    decoded = list(smoke.consume_avro(local_stack, topic, 3, timeout=30))
    assert {r["meter_id"] for r in decoded} == {"meter-000", "meter-001", "meter-002"}


def test_prometheus_scrapes_kafka_and_flink_and_a_job_metric(local_stack: StackConfig, smoke_job: Any) -> None:
    _, job_id = smoke_job

    def query(expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{local_stack.prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    deadline = time.monotonic() + 60
    while True:
        up = {(r["metric"]["job"], r["metric"]["instance"]): r["value"][1] for r in query("up")}
        job_metric = query(f'flink_jobmanager_job_numRestarts{{job_id="{job_id}"}}')
        ready = (
            up.get(("kafka", f"127.0.0.1:{local_stack.ports.kafka_metrics}")) == "1"
            and sum(1 for (job, _), v in up.items() if job == "flink" and v == "1") == 2
            and job_metric
        )
        if ready or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert up.get(("kafka", f"127.0.0.1:{local_stack.ports.kafka_metrics}")) == "1", up
    assert sorted(v for (job, _), v in up.items() if job == "flink") == ["1", "1"], up
    assert job_metric, f"no Flink job metric for {job_id} in Prometheus"
    messages_in = query('kafka_server_brokertopicmetrics_count{name="MessagesInPerSec",topic=""}')
    assert messages_in and float(messages_in[0]["value"][1]) > 0


def test_status_lists_every_service_running(local_stack: StackConfig) -> None:
    states = {p.name: p.state for p in Supervisor(local_stack).processes()}
    assert states == {
        name: "RUNNING"
        for name in (
            "kafka",
            "apicurio",
            "influxdb",
            "seaweedfs",
            "flink-jobmanager",
            "flink-taskmanager",
            "prometheus",
            "alertmanager",
            "console",
            "archive-exporter",
        )
    }


def test_prometheus_loads_the_rules_and_sends_alerts_to_alertmanager(local_stack: StackConfig) -> None:
    assert httpx.get(f"{local_stack.alertmanager_url}/-/ready", timeout=10).status_code == 200
    prometheus = local_stack.prometheus_url
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = {g["name"]: {r["name"] for r in g["rules"]} for g in groups}
    assert {"gridpipe.recording", "gridpipe.alerts"} <= set(loaded), loaded
    assert "GridpipeSinkFailing" in loaded["gridpipe.alerts"]
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups
    # Prometheus finds its Alertmanager on the first service-discovery round after start: seconds.
    expected = f"{local_stack.alertmanager_url}/api/v2/alerts"
    deadline = time.monotonic() + 30
    while True:
        active = httpx.get(f"{prometheus}/api/v1/alertmanagers", timeout=10).json()["data"]["activeAlertmanagers"]
        if any(a["url"] == expected for a in active) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [a["url"] for a in active] == [expected]


def _services(cfg: StackConfig) -> list[Any]:
    from gridpipe_stack.stack import plan

    return plan(cfg)


def test_wire_format_carries_registry_id(local_stack: StackConfig) -> None:
    from confluent_kafka import Consumer

    topic = "it-wire"
    smoke.create_topics(local_stack, topic)
    schema_id = smoke.produce_readings(local_stack, topic, smoke.sample_readings(1))
    consumer = Consumer(
        {
            "bootstrap.servers": local_stack.kafka_bootstrap,
            "group.id": "it-wire",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        message = None
        while message is None and time.monotonic() < deadline:
            candidate = consumer.poll(0.5)
            message = candidate if candidate is not None and not candidate.error() else None
    finally:
        consumer.close()
    assert message is not None
    value = message.value()
    assert value is not None
    magic, wire_id = struct.unpack(">bI", value[:5])
    assert (magic, wire_id) == (0, schema_id)


def test_installed_parquet_format_writes_files_pyarrow_reads(tmp_path: Any) -> None:
    """flink-parquet and its closure, as provisioned into PyFlink's lib/, write date-partitioned Parquet."""
    import pyarrow.parquet as pq
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    env.execute_sql(
        "CREATE TABLE archive (meter_id STRING, voltage DOUBLE, `day` STRING) PARTITIONED BY (`day`) WITH ("
        f"'connector'='filesystem', 'path'='{tmp_path.as_uri()}', 'format'='parquet')"
    )
    env.execute_sql("INSERT INTO archive VALUES ('m1', 230.5, '2026-11-25'), ('m2', 231.0, '2026-11-26')").wait()
    files = sorted(p for p in tmp_path.rglob("part-*") if p.is_file())
    assert [f.parent.name for f in files] == ["day=2026-11-25", "day=2026-11-26"]
    assert pq.read_table(files[0]).to_pylist() == [{"meter_id": "m1", "voltage": 230.5}]
