"""The schema files themselves: they parse, are self-contained, and their examples are valid."""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import fastavro
import pytest

from gridpipe_schemas.catalog import AVRO_NAMES, JSON_NAMES, avro, example, json_schema, json_validator, parsed_avro
from gridpipe_schemas.subjects import PipelineKind, subjects_for

pytestmark = pytest.mark.unit

PRD_ALERT_FIELDS = [
    "alertId",
    "timestamp",
    "rocketId",
    "missionTime",
    "anomalyType",
    "severity",
    "affectedParameter",
    "currentValue",
    "expectedRange",
    "description",
    "originalTelemetry",
]
PREVIOUS = Path(__file__).parent / "previous"
# T101's names of AnomalyEvent fields, and what an earlier release called them.
RENAMED = {"original_event": "reading", "threshold_used": "threshold_sigma", "deviation": "deviation_sigma"}
RULE_PARAMETERS = {
    "engineEfficiency",
    "burnRate",
    "sensorNoise",
    "guidanceError",
    "fuelLeakRate",
    "engineTemp",
    "thrust",
    "activeAnomalies",
}


def _avro_form(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """JSON examples spell bytes as text; Avro wants bytes."""
    if name == "DeadLetter":
        return {
            k: v.encode() if k in {"original_key", "original_value"} and v is not None else v
            for k, v in payload.items()
        }
    return payload


def _epoch_millis(value: Any) -> Any:
    """timestamp-millis decodes to datetime; compare it as the epoch milliseconds it was written from."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _epoch_millis(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("name", AVRO_NAMES)
def test_avro_schema_is_self_contained_and_its_example_round_trips(name: str) -> None:
    doc = avro(name)
    text = json.dumps(doc.parsed)
    fastavro.parse_schema(json.loads(text), named_schemas={})  # no reference left to resolve
    record = _avro_form(name, example(name))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_avro(name), record)
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, parsed_avro(name), None)
    assert _epoch_millis(decoded) == record


@pytest.mark.parametrize("name", JSON_NAMES)
def test_json_example_validates_and_a_broken_one_does_not(name: str) -> None:
    validator = json_validator(name)
    payload = example(name)
    assert not list(validator.iter_errors(payload))
    broken = dict(payload)
    broken.pop("rocketId")
    errors = [e.message for e in validator.iter_errors(broken)]
    assert any("rocketId" in message for message in errors)


def test_anomaly_alert_has_exactly_the_prd_fields_plus_total() -> None:
    fields = [f["name"] for f in avro("AnomalyAlert").parsed["fields"]]
    assert fields == [*PRD_ALERT_FIELDS, "totalAnomalies"]
    schema = json_schema("AnomalyAlert").parsed
    assert list(schema["properties"]) == [*PRD_ALERT_FIELDS, "totalAnomalies"]
    anomaly_types = schema["properties"]["anomalyType"]["enum"]
    assert anomaly_types == [
        "engine_underperformance",
        "fuel_leak",
        "sensor_malfunction",
        "guidance_failure",
        "thermal_anomaly",
        "engine_shutdown",
        "multiple_anomalies",
    ]
    assert schema["properties"]["severity"]["enum"] == ["low", "medium", "high", "critical"]


def test_telemetry_carries_every_rule_parameter_in_both_forms() -> None:
    avro_fields = {f["name"] for f in avro("TelemetryMessage").parsed["fields"]}
    json_required = set(json_schema("TelemetryMessage").parsed["required"])
    assert RULE_PARAMETERS | {"rocketId", "missionTime", "timestamp"} <= avro_fields
    assert RULE_PARAMETERS | {"rocketId", "missionTime", "timestamp"} == json_required


def test_grid_severities_and_status_can_express_failure() -> None:
    event = avro("AnomalyEvent").parsed
    severity = next(f for f in event["fields"] if f["name"] == "severity")["type"]
    assert severity["symbols"] == ["INFO", "WARNING", "ERROR", "CRITICAL"]
    reading = avro("SensorReading").parsed
    status = next(f for f in reading["fields"] if f["name"] == "status")["type"]
    assert "EQUIPMENT_FAILURE" in status["symbols"] and status["default"] == "UNKNOWN"


def test_every_optional_reading_field_has_a_default() -> None:
    for field in avro("SensorReading").parsed["fields"]:
        if isinstance(field["type"], list):
            assert "default" in field and field["type"][0] == "null", field["name"]


def test_subjects_cover_every_topic_of_each_kind() -> None:
    grid = dict(subjects_for(PipelineKind.GRID))
    assert set(grid) == {"sensor-readings-value", "anomalies-value", "dead-letter-queue-value"}
    rocket = dict(subjects_for(PipelineKind.ROCKET))
    assert rocket["rocket-telemetry-value"].type == "JSON"
    assert rocket["rocket-dead-letter-value"].name == "DeadLetter"


def test_anomaly_event_uses_the_task_list_names_and_reads_records_written_under_the_old_ones() -> None:
    fields = {f["name"]: f for f in avro("AnomalyEvent").parsed["fields"]}
    assert {"anomaly_type", "severity", *RENAMED} <= set(fields)
    assert {name: fields[name]["aliases"] for name in RENAMED} == {new: [old] for new, old in RENAMED.items()}

    previous = fastavro.parse_schema(json.loads((PREVIOUS / "AnomalyEvent-1.avsc").read_text()))
    current = example("AnomalyEvent")
    written_before = {RENAMED.get(key, key): value for key, value in current.items()}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, previous, written_before)
    buffer.seek(0)
    assert _epoch_millis(fastavro.schemaless_reader(buffer, previous, parsed_avro("AnomalyEvent"))) == current
