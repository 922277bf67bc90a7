"""Each topology planned and run in a local PyFlink TableEnvironment: records from memory, every sink a JSON file.

The statements are the production ones (``job_sql``); only the tables differ (``LocalConnectors``): no Kafka, no
cluster. The grid decoders fetch writer schemas by id, so a registry stub on loopback serves the one schema they ask
for. What each sink received is compared row by row with what the rules in docs/detection.md say.
"""

from __future__ import annotations

import base64
import io
import json
import statistics
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fastavro
import pytest

from gridpipe_jobs.functions_jar import functions_jar
from gridpipe_jobs.severity import grid_severity
from gridpipe_jobs.sql.common import Role, Table, Wiring, name_uuid_of
from gridpipe_jobs.sql.text import Column, create_table
from gridpipe_jobs.sql.topology import job_sql
from gridpipe_schemas.catalog import avro, example, parsed_avro
from gridpipe_schemas.pipeline import GridPipeline, parse_pipeline

pytestmark = pytest.mark.unit
READING_SCHEMA_ID = 7
ANOMALY_SCHEMA_ID = 11
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@dataclass(frozen=True)
class Record:
    """One Kafka record as the source table gives it."""

    value: bytes
    key: bytes | None = None
    offset: int = 0
    timestamp_ms: int = START_MS


@dataclass
class LocalConnectors:
    """The topology's tables in a local TableEnvironment: the records from a VALUES list, each sink a JSON file."""

    records: list[Record]
    out: Path
    # What the grid archive reads from the anomalies topic.
    alert_records: list[Record] = field(default_factory=list)

    def table(self, table: Table) -> str:
        if table.role in (Role.RECORDS, Role.ARCHIVE_RECORDS):
            return self._records(table.name, self.records, "source")
        if table.role is Role.ARCHIVE_ALERT_RECORDS:
            return self._records(table.name, self.alert_records, "anomalies")
        columns = [Column(c.name, c.sql_type) for c in table.columns]
        return create_table(table.name, columns, self._json_files(table.name))

    def _records(self, name: str, records: list[Record], topic: str) -> str:
        """The records as one JSON file, read in order; the Kafka metadata columns are computed from them."""
        folder = self.out / name
        folder.mkdir(parents=True)
        lines = (
            json.dumps(
                {"key": _base64(r.key), "value": _base64(r.value), "offset": r.offset, "kafka_ms": r.timestamp_ms}
            )
            for r in records
        )
        (folder / "records.json").write_text("\n".join(lines) + "\n")
        columns = [
            Column("key", "BYTES"),
            Column("value", "BYTES"),
            Column("offset", "BIGINT"),
            Column("kafka_ms", "BIGINT"),
            Column("topic", f"AS '{topic}'"),
            Column("partition", "AS 0"),
            Column("kafka_time", "AS TO_TIMESTAMP_LTZ(kafka_ms, 3)"),
        ]
        return create_table(name, columns, self._json_files(name))

    def _json_files(self, table: str) -> dict[str, str]:
        return {"connector": "filesystem", "path": str(self.out / table), "format": "json"}

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row the job wrote into a sink table."""
        files = sorted(p for p in (self.out / table).rglob("*") if p.is_file() and not p.name.startswith("."))
        return [json.loads(line) for f in files for line in f.read_text().splitlines() if line]


def _base64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    """A schema registry that knows two schemas: the SensorReading and the AnomalyEvent, under their ids here."""
    bodies = {
        f"/schemas/ids/{READING_SCHEMA_ID}": json.dumps({"schema": avro("SensorReading").text}).encode(),
        f"/schemas/ids/{ANOMALY_SCHEMA_ID}": json.dumps({"schema": avro("AnomalyEvent").text}).encode(),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _wiring(registry_url: str) -> Wiring:
    return Wiring(
        bootstrap="unused:9092",
        registry_url=registry_url,
        reading_schema=avro("SensorReading").text,
        anomaly_schema_id=ANOMALY_SCHEMA_ID,
        anomaly_schema=avro("AnomalyEvent").text,
        dead_letter_schema_id=12,
        dead_letter_schema=avro("DeadLetter").text,
        telemetry_schema=avro("TelemetryMessage").text,
    )


def _run(pipeline: GridPipeline, wiring: Wiring, connectors: LocalConnectors) -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    for key, value in {
        "pipeline.jars": functions_jar().resolve().as_uri(),
        "parallelism.default": "1",
        "table.local-time-zone": "UTC",
        "restart-strategy.type": "none",
        "execution.checkpointing.interval": "200 ms",
    }.items():
        config.set(key, value)
    statements = job_sql(pipeline, wiring, connectors)
    for statement in statements.ddl:
        env.execute_sql(statement)
    statement_set = env.create_statement_set()
    for insert in statements.inserts:
        statement_set.add_insert_sql(insert)
    statement_set.execute().wait()


def _pipeline(profile: str, detection: dict[str, Any]) -> GridPipeline:
    return parse_pipeline(
        {
            "apiVersion": "gridpipe.io/v1alpha1",
            "kind": "GridPipeline",
            "metadata": {"name": f"{profile}-local"},
            "spec": {
                "profile": profile,
                "source": {"topic": "source"},
                "outputs": {"anomaliesTopic": "anomalies", "deadLetterTopic": "dead-letters"},
                "detection": detection,
                "sinks": {"influxdb": {"enabled": True}, "archive": {"enabled": True}},
            },
        }
    )


def _reading(offset: int, **changes: Any) -> Record:
    reading = {**example("SensorReading"), "timestamp": START_MS + offset * 1000, "sequence": offset, **changes}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed_avro("SensorReading"), reading)
    value = b"\x00" + struct.pack(">I", READING_SCHEMA_ID) + body.getvalue()
    return Record(value, reading["meter_id"].encode(), offset, START_MS + offset * 1000)


def _alert(offset: int, alert_id: str, **changes: Any) -> Record:
    """The example AnomalyEvent under ``alert_id``, as the alert path publishes it."""
    event = {**example("AnomalyEvent"), "alert_id": alert_id, **changes}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed_avro("AnomalyEvent"), event)
    value = b"\x00" + struct.pack(">I", ANOMALY_SCHEMA_ID) + body.getvalue()
    return Record(value, b"MTR-000042", offset)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def test_grid_topology_alerts_a_surge_and_a_failure_and_dead_letters_a_bad_record(
    registry: str, tmp_path: Path
) -> None:
    pipeline = _pipeline(
        "grid",
        {
            "zscore": {"fields": ["voltage"], "threshold": 2.5, "minSamples": 5, "window": "5m", "bucket": "10s"},
            "equipmentFailure": {"enabled": True},
        },
    )
    steady = [230.0, 230.2, 229.8, 230.1, 229.9, 230.0]
    records = [_reading(i, voltage=v) for i, v in enumerate(steady)]
    records += [_reading(6, voltage=260.0), _reading(7, voltage=230.0, status="EQUIPMENT_FAILURE", firmware=None)]
    records.append(Record(b"\x01not avro", b"MTR-000042", 8))
    # The anomalies topic as the archive reads it: two alerts, the first again (the at-least-once replay of a
    # failover), and a record that is no AnomalyEvent.
    published = [
        _alert(0, "grid-local:a"),
        _alert(1, "grid-local:b", window=None, field=None),
        _alert(2, "grid-local:a"),
    ]
    published.append(Record(b"not an alert", b"MTR-000042", 3))
    connectors = LocalConnectors(records, tmp_path, published)
    _run(pipeline, _wiring(registry), connectors)

    # The surge, judged against the six readings before it; the status row of the failing reading.
    mean, stddev = statistics.mean(steady), statistics.stdev(steady)
    deviation = (260.0 - mean) / stddev
    surge_id = f"grid-local:{_sha_alert(pipeline, 'MTR-000042', START_MS + 6000, 'zscore:voltage')}"
    anomalies = sorted(
        map(_anomaly_event, connectors.rows("anomaly_sink")), key=lambda a: a["original_event"]["timestamp"]
    )
    assert [(a["key"], a["anomaly_type"], a["severity"], a["field"]) for a in anomalies] == [
        ("MTR-000042", "VOLTAGE_SURGE", grid_severity(deviation), "voltage"),
        ("MTR-000042", "EQUIPMENT_FAILURE", "CRITICAL", None),
    ]
    surge, failure = anomalies
    assert surge["alert_id"] == surge_id and surge["original_event"]["voltage"] == 260.0
    assert surge["deviation"] == pytest.approx(deviation, rel=1e-9)
    assert (surge["window"]["mean"], surge["window"]["count"]) == (pytest.approx(mean, rel=1e-12), 6)
    assert surge["window"]["stddev"] == pytest.approx(stddev, rel=1e-9) and surge["window"]["length_ms"] == 300_000
    assert failure["original_event"]["status"] == "EQUIPMENT_FAILURE" and failure["deviation"] is None

    influx = sorted(connectors.rows("influx_sink"), key=lambda p: p["event_time"])
    assert [
        {k: p[k] for k in ("pipeline", "sensor_id", "anomaly_type", "severity", "field", "alert_id")} for p in influx
    ] == [
        {
            "pipeline": "grid-local",
            "sensor_id": "MTR-000042",
            "anomaly_type": "VOLTAGE_SURGE",
            "severity": grid_severity(deviation),
            "field": "voltage",
            "alert_id": surge_id,
        },
        {
            "pipeline": "grid-local",
            "sensor_id": "MTR-000042",
            "anomaly_type": "EQUIPMENT_FAILURE",
            "severity": "CRITICAL",
            "field": None,
            "alert_id": failure["alert_id"],
        },
    ]
    assert influx[0]["value"] == 260.0 and influx[0]["window_samples"] == 6 and influx[0]["threshold"] == 2.5
    # Each point carries the reading it was raised on: every SensorReading field, timestamp in epoch ms, as JSON.
    reading = {**example("SensorReading"), "timestamp": START_MS + 6000, "sequence": 6, "voltage": 260.0}
    assert [p["original_event"] for p in influx] == [
        json.dumps(reading, separators=(",", ":")),
        json.dumps(
            {
                **reading,
                "timestamp": START_MS + 7000,
                "sequence": 7,
                "voltage": 230.0,
                "status": "EQUIPMENT_FAILURE",
                "firmware": None,
            },
            separators=(",", ":"),
        ),
    ], "compact, every key in the schema's order, null when absent"
    # The same reading as the Kafka AnomalyEvent's original_event (whose timestamp fastavro reads as a datetime).
    kafka_events = [{**a["original_event"], "timestamp": _ms(a["original_event"]["timestamp"])} for a in anomalies]
    assert [json.loads(p["original_event"]) for p in influx] == kafka_events

    archived = connectors.rows("archive_readings")
    assert sorted(r["kafka_offset"] for r in archived) == list(range(8)), "every well-formed reading, once"
    assert {(r["year"], r["month"], r["day"]) for r in archived} == {("2026", "01", "01")}
    # The archive's anomalies are the published alerts, each once, in the archive's columns.
    archived_alerts = sorted(connectors.rows("archive_anomalies"), key=lambda a: a["alert_id"])
    assert [a["alert_id"] for a in archived_alerts] == ["grid-local:a", "grid-local:b"]
    example_event = example("AnomalyEvent")
    assert {k: v for k, v in archived_alerts[0].items() if k != "event_time"} == {
        "alert_id": "grid-local:a",
        "pipeline": example_event["pipeline"],
        "meter_id": "MTR-000042",
        "anomaly_type": "VOLTAGE_SURGE",
        "severity": "ERROR",
        "field": "voltage",
        "observed_value": 262.9,
        "threshold_sigma": 2.5,
        "deviation_sigma": 4.1,
        "window_mean": 230.6,
        "window_stddev": 7.9,
        "window_count": 300,
        "window_length_ms": 300000,
        "description": example_event["description"],
        "year": "2026",
        "month": "01",
        "day": "01",
    }
    assert archived_alerts[0]["event_time"].startswith("2026-01-01 00:00:00")
    assert [archived_alerts[1][k] for k in ("field", "window_mean", "window_count")] == [None, None, None]

    letters = sorted(connectors.rows("dead_letter_sink"), key=lambda letter: letter["source_topic"])
    assert [(x["reason"], x["source_offset"], x["source_topic"]) for x in letters] == [
        ("BAD_MAGIC_BYTE", 3, "anomalies"),
        ("BAD_MAGIC_BYTE", 8, "source"),
    ]
    assert base64.b64decode(letters[1]["original_value"]) == b"\x01not avro"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _sha_alert(pipeline: GridPipeline, meter: str, event_ms: int, rule: str) -> str:
    import hashlib

    text = "|".join((pipeline.metadata.name, meter, _flink_timestamp(event_ms), rule))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _flink_timestamp(ms: int) -> str:
    """CAST(TIMESTAMP_LTZ(3) AS STRING) in UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _anomaly_event(row: dict[str, Any]) -> dict[str, Any]:
    """An anomaly_sink row: the key, and the AnomalyEvent decoded from its Confluent wire format."""
    value = base64.b64decode(row["value"])
    assert value[0] == 0 and struct.unpack(">I", value[1:5]) == (ANOMALY_SCHEMA_ID,)
    event: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed_avro("AnomalyEvent"), None)
    return {**event, "key": base64.b64decode(row["key"]).decode()}


def _telemetry(offset: int, **changes: Any) -> Record:
    message = {**example("TelemetryMessage"), "missionTime": 45.0 + offset, **changes}
    return Record(json.dumps(message).encode(), message["rocketId"].encode(), offset)


def test_rocket_topology_alerts_each_rule_that_fires_with_its_severity(tmp_path: Path) -> None:
    pipeline = _pipeline("rocket", {})
    records = [
        _telemetry(0),
        _telemetry(1, engineTemp=3800.0),
        _telemetry(2, engineTemp=3500.0, sensorNoise=2.0, guidanceError=3.0, altitude=None),
        Record(b"{not json", b"Falcon-9-001", 3),
    ]
    connectors = LocalConnectors(records, tmp_path)
    _run(pipeline, _wiring("http://unused"), connectors)

    alerts = sorted(connectors.rows("anomaly_sink"), key=lambda a: (a["missionTime"], a["affectedParameter"]))
    summary = [
        (a["missionTime"], a["affectedParameter"], a["anomalyType"], a["severity"], a["totalAnomalies"]) for a in alerts
    ]
    assert summary == [
        (46.0, "engineTemp", "thermal_anomaly", "high", 1),  # above 3700: high
        (47.0, "engineTemp", "thermal_anomaly", "critical", 3),  # three rules at once: critical
        (47.0, "guidanceError", "guidance_failure", "critical", 3),
        (47.0, "sensorNoise", "sensor_malfunction", "critical", 3),
    ]
    thermal = alerts[0]
    timestamp = example("TelemetryMessage")["timestamp"]
    assert thermal == {
        "key": base64.b64encode(b"Falcon-9-001").decode(),
        "alertId": name_uuid_of("rocket-local", "Falcon-9-001", timestamp, "46.0", "engineTemp"),
        "timestamp": timestamp,
        "rocketId": "Falcon-9-001",
        "missionTime": 46.0,
        "anomalyType": "thermal_anomaly",
        "severity": "high",
        "affectedParameter": "engineTemp",
        "currentValue": 3800.0,
        "expectedRange": "outside 3400-4000",
        "description": "engineTemp anomaly: Thermal Anomaly",
        "originalTelemetry": {**example("TelemetryMessage"), "missionTime": 46.0, "engineTemp": 3800.0},
        "totalAnomalies": 1,
    }

    influx = sorted(connectors.rows("influx_sink"), key=lambda p: (p["mission_time"], p["parameter"]))
    assert [(p["sensor_id"], p["parameter"], p["severity"], p["expected_range"]) for p in influx][:2] == [
        ("Falcon-9-001", "engineTemp", "high", "outside 3400-4000"),
        ("Falcon-9-001", "engineTemp", "critical", "outside 3400-4000"),
    ]
    assert len(influx) == 4 and influx[0]["alert_id"] == thermal["alertId"]
    # Each point carries the telemetry message it was raised on, as compact JSON with every key (null when absent);
    # Flink's JSON_OBJECT writes the keys in alphabetical order.
    original = {**example("TelemetryMessage"), "missionTime": 46.0, "engineTemp": 3800.0}
    assert influx[0]["original_event"] == json.dumps(original, separators=(",", ":"), sort_keys=True)
    critical = {**example("TelemetryMessage"), "missionTime": 47.0, "engineTemp": 3500.0, "sensorNoise": 2.0}
    critical |= {"guidanceError": 3.0, "altitude": None}
    assert [json.loads(p["original_event"]) for p in influx[1:]] == [critical] * 3
    assert [json.loads(p["original_event"]) for p in influx] == [a["originalTelemetry"] for a in alerts]
    assert sorted(r["kafka_offset"] for r in connectors.rows("archive_telemetry")) == [0, 1, 2]
    assert len(connectors.rows("archive_anomalies")) == 4

    (letter,) = connectors.rows("dead_letter_sink")
    assert (letter["reason"], letter["source_offset"]) == ("INVALID_JSON", 3)
    assert base64.b64decode(letter["original_value"]) == b"{not json"
