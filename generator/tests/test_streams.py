"""The simulated streams, without Kafka: encoding, determinism, labels, malformed kinds."""

from __future__ import annotations

import io
import itertools
import json
import math
from typing import Any

import fastavro
import pytest

from gridpipe_generator.malformed import GRID_MALFORMED_KINDS, ROCKET_MALFORMED_KINDS, UNREGISTERED_SCHEMA_ID
from gridpipe_generator.records import GeneratedRecord, parse_label
from gridpipe_generator.rocket import RULE_RANGES
from gridpipe_generator.run import GeneratorConfig, build_stream
from gridpipe_generator.wire import MeterEncoder, zigzag_varint
from gridpipe_schemas.catalog import json_validator, parsed_avro
from gridpipe_schemas.subjects import PipelineKind

pytestmark = pytest.mark.unit
READING_ID, BROKEN_ID = 7, 8


def _grid(**overrides: Any) -> list[GeneratedRecord]:
    fields: dict[str, Any] = {
        "event_rate": 10_000,
        "meters": 500,
        "start_ms": 1_767_225_600_000,
        "anomaly_rate": 0.02,
        "malformed_rate": 0.02,
        "seed": 11,
        **overrides,
    }
    cfg = GeneratorConfig(PipelineKind.GRID, "unused", "unused", "readings", **fields)
    return list(itertools.islice(build_stream(cfg, READING_ID, BROKEN_ID), 20_000))


def _rocket(**overrides: Any) -> list[GeneratedRecord]:
    fields: dict[str, Any] = {
        "event_rate": 30,
        "rockets": 3,
        "start_ms": 1_767_225_600_000,
        "anomaly_rate": 0.05,
        "malformed_rate": 0.03,
        "seed": 5,
        **overrides,
    }
    cfg = GeneratorConfig(PipelineKind.ROCKET, "unused", "unused", "rocket-telemetry", **fields)
    return list(itertools.islice(build_stream(cfg), 20_000))


def _decode(value: bytes) -> Any:
    assert value[0] == 0 and int.from_bytes(value[1:5], "big") == READING_ID
    decoded: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed_avro("SensorReading"), None)
    return decoded


def test_hand_rolled_encoder_matches_fastavro_byte_for_byte() -> None:
    encoder = MeterEncoder(42, "MTR-000001", "FDR-01", "4.2.1")
    value = encoder.encode(
        zigzag_varint(1_767_225_600_123), 231.5, 10.25, 30.0, "EQUIPMENT_FAILURE", zigzag_varint(99), 50.01, 0.95
    )
    expected = io.BytesIO()
    fastavro.schemaless_writer(
        expected,
        parsed_avro("SensorReading"),
        {
            "meter_id": "MTR-000001",
            "timestamp": 1_767_225_600_123,
            "voltage": 231.5,
            "current": 10.25,
            "temperature": 30.0,
            "status": "EQUIPMENT_FAILURE",
            "sequence": 99,
            "frequency": 50.01,
            "power_factor": 0.95,
            "feeder_id": "FDR-01",
            "firmware": "4.2.1",
        },
    )
    assert value == b"\x00" + (42).to_bytes(4, "big") + expected.getvalue()


@pytest.mark.parametrize("make", [_grid, _rocket])
def test_same_seed_same_stream_other_seed_other_stream(make: Any) -> None:
    assert make() == make()
    assert make() != make(seed=12345)


def test_grid_readings_are_plausible_and_labels_match_what_was_injected() -> None:
    records = _grid()
    normal = [_decode(r.value) for r in records if r.label == "normal"]
    assert len(normal) > 0.9 * len(records)
    voltages = [n["voltage"] for n in normal]
    assert min(voltages) > 207 and max(voltages) < 253  # EN 50160: 230 V +-10 %
    assert all(n["status"] != "EQUIPMENT_FAILURE" for n in normal)
    assert {n["meter_id"] for n in normal} == {f"MTR-{i:06d}" for i in range(500)}

    by_meter: dict[str, list[float]] = {}
    for n in normal:
        by_meter.setdefault(n["meter_id"], []).append(n["voltage"])
    seen_kinds: set[str] = set()
    for record in records:
        category, kinds = parse_label(record.label)
        if category != "anomaly":
            continue
        seen_kinds.update(kinds)
        reading = _decode(record.value)
        if "EQUIPMENT_FAILURE" in kinds:
            assert reading["status"] == "EQUIPMENT_FAILURE"
        if {"VOLTAGE_SURGE", "VOLTAGE_SAG"} & set(kinds):
            history = by_meter[reading["meter_id"]]
            mean = sum(history) / len(history)
            sigma = math.sqrt(sum((v - mean) ** 2 for v in history) / (len(history) - 1))
            direction = 1 if "VOLTAGE_SURGE" in kinds else -1
            assert direction * (reading["voltage"] - mean) > 4.0 * sigma, (record.label, reading, mean, sigma)
    assert seen_kinds == {
        "VOLTAGE_SURGE",
        "VOLTAGE_SAG",
        "CURRENT_SURGE",
        "CURRENT_DROP",
        "TEMPERATURE_HIGH",
        "TEMPERATURE_LOW",
        "EQUIPMENT_FAILURE",
    }
    assert any("," in r.label for r in records if r.label.startswith("anomaly:")), "several at once occur"


def test_every_grid_malformed_kind_is_produced_and_really_malformed() -> None:
    records = [r for r in _grid() if r.label.startswith("malformed:")]
    kinds = {parse_label(r.label)[1][0] for r in records}
    assert kinds == set(GRID_MALFORMED_KINDS)
    for record in records:
        kind = parse_label(record.label)[1][0]
        value = record.value
        if kind == "BAD_MAGIC_BYTE":
            assert value[0] != 0
        elif kind == "UNKNOWN_SCHEMA_ID":
            assert value[0] == 0 and int.from_bytes(value[1:5], "big") >= UNREGISTERED_SCHEMA_ID
        elif kind == "TRUNCATED_AVRO":
            with pytest.raises(EOFError):
                _decode(value)
        elif kind == "MISSING_REQUIRED_FIELD":
            assert int.from_bytes(value[1:5], "big") == BROKEN_ID
        else:
            assert not math.isfinite(_decode(value)["voltage"])


def test_rocket_telemetry_is_valid_and_only_labelled_records_hit_a_rule() -> None:
    validator = json_validator("TelemetryMessage")
    seen: set[str] = set()
    for record in _rocket():
        category, kinds = parse_label(record.label)
        if category == "malformed":
            continue
        telemetry = json.loads(record.value)
        assert not list(validator.iter_errors(telemetry)), telemetry
        in_range = {
            p
            for p, (low, high) in RULE_RANGES.items()
            if (telemetry[p] >= low if p == "activeAnomalies" else low <= telemetry[p] <= high)
        }
        assert in_range == set(kinds), (record.label, telemetry)
        seen.update(kinds)
    assert seen == set(RULE_RANGES)


def test_every_rocket_malformed_kind_is_produced_and_really_malformed() -> None:
    validator = json_validator("TelemetryMessage")
    records = [r for r in _rocket() if r.label.startswith("malformed:")]
    assert {parse_label(r.label)[1][0] for r in records} == set(ROCKET_MALFORMED_KINDS)
    for record in records:
        kind = parse_label(record.label)[1][0]
        if kind == "INVALID_JSON":
            with pytest.raises(json.JSONDecodeError):
                json.loads(record.value)
            continue
        telemetry = json.loads(record.value)
        if kind == "NON_FINITE_NUMBER":
            assert any(isinstance(v, float) and not math.isfinite(v) for v in telemetry.values())
        else:
            assert list(validator.iter_errors(telemetry)), (kind, telemetry)
