"""Malformed records of every kind a pipeline must dead-letter, built from good ones so they look real.

Each kind is labelled with the dead-letter reason the pipeline is expected to give (docs/schemas.md).
"""

from __future__ import annotations

import io
import json
import math
import random
from typing import Any

import fastavro

from gridpipe_generator.records import GeneratedRecord, malformed_label
from gridpipe_generator.wire import confluent_header

GRID_MALFORMED_KINDS = (
    "BAD_MAGIC_BYTE",
    "UNKNOWN_SCHEMA_ID",
    "TRUNCATED_AVRO",
    "MISSING_REQUIRED_FIELD",
    "NON_FINITE_NUMBER",
)
ROCKET_MALFORMED_KINDS = ("INVALID_JSON", "MISSING_REQUIRED_FIELD", "NON_FINITE_NUMBER", "SCHEMA_VIOLATION")
# Schema ids this high are never handed out by a registry that gridpipe uses.
UNREGISTERED_SCHEMA_ID = 2_000_000_000


def broken_reading_schema(reading_schema: dict[str, Any]) -> dict[str, Any]:
    """SensorReading without ``voltage``: what an out-of-date or buggy producer would write."""
    broken: dict[str, Any] = json.loads(json.dumps(reading_schema))
    broken["fields"] = [f for f in broken["fields"] if f["name"] != "voltage"]
    return broken


class GridMalformer:
    def __init__(self, seed: int, reading_schema: dict[str, Any], broken_schema_id: int) -> None:
        self._random = random.Random(seed ^ 0x5EED)
        self._reading = fastavro.parse_schema(reading_schema)
        self._broken = fastavro.parse_schema(broken_reading_schema(reading_schema))
        self._broken_header = confluent_header(broken_schema_id)

    def _missing_field(self, record: GeneratedRecord) -> bytes:
        out = io.BytesIO()
        out.write(self._broken_header)
        meter = record.key.decode()
        fastavro.schemaless_writer(
            out,
            self._broken,
            {
                "meter_id": meter,
                "timestamp": record.timestamp_ms,
                "current": 10.0,
                "temperature": 20.0,
                "status": "OK",
                "sequence": None,
                "frequency": None,
                "power_factor": None,
                "feeder_id": None,
                "firmware": None,
            },
        )
        return out.getvalue()

    def _non_finite(self, value: bytes) -> bytes:
        reading: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), self._reading, None)
        reading["voltage"] = self._random.choice([math.nan, math.inf, -math.inf])
        out = io.BytesIO()
        out.write(value[:5])
        fastavro.schemaless_writer(out, self._reading, reading)
        return out.getvalue()

    def malform(self, record: GeneratedRecord, kind: str) -> bytes:
        value = record.value
        match kind:
            case "BAD_MAGIC_BYTE":
                return b"\x01" + value[1:]
            case "UNKNOWN_SCHEMA_ID":
                return confluent_header(UNREGISTERED_SCHEMA_ID + self._random.randrange(1000)) + value[5:]
            case "TRUNCATED_AVRO":
                return value[: 5 + (len(value) - 5) // 3]
            case "MISSING_REQUIRED_FIELD":
                return self._missing_field(record)
            case "NON_FINITE_NUMBER":
                return self._non_finite(value)
        raise ValueError(f"unknown grid malformed kind {kind!r}; known: {', '.join(GRID_MALFORMED_KINDS)}")

    def choose(self) -> str:
        return self._random.choice(GRID_MALFORMED_KINDS)


class RocketMalformer:
    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed ^ 0x5EED)

    def malform(self, record: GeneratedRecord, kind: str) -> bytes:
        telemetry = json.loads(record.value)
        match kind:
            case "INVALID_JSON":
                return record.value[: len(record.value) // 2]
            case "MISSING_REQUIRED_FIELD":
                telemetry.pop(self._random.choice(["thrust", "engineTemp", "rocketId"]))
            case "NON_FINITE_NUMBER":
                telemetry[self._random.choice(["engineTemp", "burnRate"])] = self._random.choice([math.nan, math.inf])
            case "SCHEMA_VIOLATION":
                telemetry["thrust"] = "nominal"
            case _:
                raise ValueError(f"unknown rocket malformed kind {kind!r}; known: {', '.join(ROCKET_MALFORMED_KINDS)}")
        return json.dumps(telemetry).encode()  # json writes NaN and Infinity as bare words, as a buggy sender would

    def choose(self) -> str:
        return self._random.choice(ROCKET_MALFORMED_KINDS)


def as_malformed(record: GeneratedRecord, kind: str, value: bytes) -> GeneratedRecord:
    return GeneratedRecord(record.key, value, malformed_label(kind), record.timestamp_ms)
