"""Which schema goes under which registry subject (TopicNameStrategy: ``<topic>-value``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gridpipe_schemas.catalog import SchemaDoc, avro, json_schema


class PipelineKind(StrEnum):
    GRID = "grid"
    ROCKET = "rocket"


@dataclass(frozen=True)
class PipelineTopics:
    readings: str
    anomalies: str
    dead_letter: str


DEFAULT_TOPICS = {
    PipelineKind.GRID: PipelineTopics("sensor-readings", "anomalies", "dead-letter-queue"),
    PipelineKind.ROCKET: PipelineTopics("rocket-telemetry", "rocket-anomalies", "rocket-dead-letter"),
}


def value_subject(topic: str) -> str:
    return f"{topic}-value"


def subjects_for(kind: PipelineKind, topics: PipelineTopics | None = None) -> list[tuple[str, SchemaDoc]]:
    """Every subject a pipeline of ``kind`` reads or writes, with its schema.

    Grid topics carry Avro. Rocket topics carry JSON, validated by JSON Schema; the Avro forms of the rocket
    records are registered too, under their record names, for the archive and for Avro consumers.
    """
    t = topics or DEFAULT_TOPICS[kind]
    dead_letter = (value_subject(t.dead_letter), avro("DeadLetter"))
    if kind is PipelineKind.GRID:
        return [
            (value_subject(t.readings), avro("SensorReading")),
            (value_subject(t.anomalies), avro("AnomalyEvent")),
            dead_letter,
        ]
    return [
        (value_subject(t.readings), json_schema("TelemetryMessage")),
        (value_subject(t.anomalies), json_schema("AnomalyAlert")),
        dead_letter,
        ("io.gridpipe.rocket.TelemetryMessage", avro("TelemetryMessage")),
        ("io.gridpipe.rocket.AnomalyAlert", avro("AnomalyAlert")),
    ]
