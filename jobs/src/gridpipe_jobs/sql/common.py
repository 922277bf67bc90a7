"""What the grid and rocket topologies share: the job's wiring, its tables and their connectors, the JVM functions,
the dead-letter branch and alert ids."""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gridpipe_jobs.sinks import (
    DEAD_LETTER_COLUMNS,
    PARTITION_COLUMNS,
    DeadLetterTarget,
    InfluxEndpoint,
    archive_options,
    archive_path,
    dead_letter_options,
    influx_options,
)
from gridpipe_jobs.sql.text import Column, Columns, create_table, insert_into, literal, select
from gridpipe_schemas.pipeline import GridPipeline

FUNCTIONS = {
    "DECODE_READING": "io.gridpipe.flink.DecodeSensorReading",
    "DECODE_ANOMALY": "io.gridpipe.flink.DecodeAnomalyEvent",
    "READING_JSON": "io.gridpipe.flink.ReadingJson",
    "DECODE_TELEMETRY": "io.gridpipe.flink.DecodeTelemetry",
    "ZSCORE": "io.gridpipe.flink.ZScore",
    "FIRST_SEEN": "io.gridpipe.flink.FirstSeen",
    "ENCODE_ANOMALY": "io.gridpipe.flink.EncodeAnomalyEvent",
    "ALERT_KEY": "io.gridpipe.flink.AlertKey",
    "EVENT_YEAR": "io.gridpipe.flink.EventDatePart$Year",
    "EVENT_MONTH": "io.gridpipe.flink.EventDatePart$Month",
    "EVENT_DAY": "io.gridpipe.flink.EventDatePart$Day",
    "NAME_UUID": "io.gridpipe.flink.NameUuid",
}
# uuid5(NAMESPACE_URL, "https://gridpipe.io/alert-ids"), as jobs/java NameUuid.NAMESPACE.
ALERT_ID_NAMESPACE = uuid.UUID("f22caab3-4fe1-5b8a-9cd8-2b116621c70f")


@dataclass(frozen=True)
class Wiring:
    """Where the job connects and which registered schemas it writes with."""

    bootstrap: str
    registry_url: str
    reading_schema: str
    anomaly_schema_id: int
    anomaly_schema: str
    dead_letter_schema_id: int
    dead_letter_schema: str
    telemetry_schema: str = ""
    influxdb: InfluxEndpoint = field(default_factory=InfluxEndpoint)
    # Where archive paths start instead of s3://<bucket> (a file:// URI in tests of the SQL alone).
    archive_root: str | None = None
    # When the job was made (epoch ms): a grid archive that starts without state reads the alerts published from then.
    made_at_ms: int = 0


@dataclass(frozen=True)
class JobSql:
    """One job: the tables, functions and views (``ddl``), then the INSERTs that run together as one statement set."""

    ddl: list[str]
    inserts: list[str]


class Role(enum.Enum):
    """What a table is to the job; the connectors decide where it is (Kafka, InfluxDB, S3, or files in a test)."""

    RECORDS = "records"
    ARCHIVE_RECORDS = "archive records"
    ARCHIVE_ALERT_RECORDS = "archive alert records"
    ANOMALIES = "anomalies"
    DEAD_LETTERS = "dead letters"
    INFLUXDB = "influxdb"
    ARCHIVE = "archive"


@dataclass(frozen=True)
class Table:
    name: str
    role: Role
    columns: tuple[Column, ...]
    partitioned_by: tuple[str, ...] = ()
    dataset: str = ""  # the archive's dataset (readings, telemetry, anomalies)


class Connectors(Protocol):
    def table(self, table: Table) -> str:
        """The statement that makes ``table`` (a CREATE TABLE, or a CREATE VIEW for an in-memory source)."""
        ...


# The raw Kafka records: the decoders take the bytes, the dead letters keep where each record came from.
RECORDS = Table(
    "source_records",
    Role.RECORDS,
    (
        Column("key", "BYTES"),
        Column("value", "BYTES"),
        Column("topic", "STRING", "METADATA VIRTUAL"),
        Column("partition", "INT", "METADATA VIRTUAL"),
        Column("offset", "BIGINT", "METADATA VIRTUAL"),
        Column("kafka_time", "TIMESTAMP_LTZ(3)", "METADATA FROM 'timestamp' VIRTUAL"),
    ),
)
DEAD_LETTERS = Table("dead_letter_sink", Role.DEAD_LETTERS, DEAD_LETTER_COLUMNS)


@dataclass(frozen=True)
class Branch:
    """One copy of a topology's source and views. The alert path reads the source topic for detection and the alert
    sinks; the archive reads it again into a copy of its own (decoding; for the rocket also the stateless rules, for
    the grid the alerts come back from the anomalies topic), not connected to the alert path. So nothing the archive
    does -- a checkpoint upload, a commit, an S3 outage, a restart of its tasks -- can hold up an alert
    (docs/performance.md, Latency isolation)."""

    prefix: str
    records: Table

    def __call__(self, name: str) -> str:
        """The name of view ``name`` in this branch."""
        return self.prefix + name


ALERT_PATH = Branch("", RECORDS)
ARCHIVE_PATH = Branch("archiving_", Table("archiving_source_records", Role.ARCHIVE_RECORDS, RECORDS.columns))
# The grid archive's read of the anomalies topic: it archives the alerts the alert path published (deduplicated by
# alert id) instead of detecting them again (docs/performance.md, Throughput with both sinks).
ARCHIVE_ALERT_RECORDS = Table("archiving_alert_records", Role.ARCHIVE_ALERT_RECORDS, RECORDS.columns)


def kafka_options(topic: str, bootstrap: str, extra: dict[str, str]) -> dict[str, str]:
    return {"connector": "kafka", "topic": topic, "properties.bootstrap.servers": bootstrap, **extra}


_STARTUP_MODES = {"group-offsets": "group-offsets", "earliest": "earliest-offset", "latest": "latest-offset"}
# Alerts are wanted now, not at the next checkpoint: at-least-once with deterministic alert ids.
_PROMPT_DELIVERY = {"sink.delivery-guarantee": "at-least-once", "properties.linger.ms": "2"}
# The archive commits at checkpoints (every 10 s by default), so its reads can wait for data to pile up: a fetch
# returns once 512 KiB are there or after half a second, instead of as soon as one record is, which at 10,000 events/s
# was 66 fetches a second, each paid for by the TaskManager and the broker on the alert path's cores.
_BATCHED_FETCH = {"properties.fetch.min.bytes": str(512 * 1024), "properties.fetch.max.wait.ms": "500"}


@dataclass(frozen=True)
class ProductionConnectors:
    """The tables of a deployed job: Kafka topics, the dead-letter and InfluxDB connectors of jobs/java, S3."""

    pipeline: GridPipeline
    wiring: Wiring

    def table(self, table: Table) -> str:
        return create_table(table.name, table.columns, self.options(table), table.partitioned_by)

    def options(self, table: Table) -> dict[str, str]:
        spec, bootstrap = self.pipeline.spec, self.wiring.bootstrap
        key_and_value = {"key.format": "raw", "key.fields": "key"}
        match table.role:
            case Role.RECORDS | Role.ARCHIVE_RECORDS:
                # The archive's read has a consumer group of its own: its offsets are its own progress.
                group = f"gridpipe-{self.pipeline.metadata.name}"
                return kafka_options(
                    spec.source.topic,
                    bootstrap,
                    {
                        "properties.group.id": group if table.role is Role.RECORDS else f"{group}-archive",
                        "properties.auto.offset.reset": "earliest",
                        **(_BATCHED_FETCH if table.role is Role.ARCHIVE_RECORDS else {}),
                        "scan.startup.mode": _STARTUP_MODES[spec.source.start_from],
                        **key_and_value,
                        "value.format": "raw",
                        "value.fields-include": "EXCEPT_KEY",
                    },
                )
            case Role.ARCHIVE_ALERT_RECORDS:
                # From the alerts published since the job was made; a restored job goes on from its checkpoint.
                return kafka_options(
                    spec.outputs.anomalies_topic,
                    bootstrap,
                    {
                        "properties.group.id": f"gridpipe-{self.pipeline.metadata.name}-archive",
                        **_BATCHED_FETCH,
                        "scan.startup.mode": "timestamp",
                        "scan.startup.timestamp-millis": str(self.wiring.made_at_ms),
                        **key_and_value,
                        "value.format": "raw",
                        "value.fields-include": "EXCEPT_KEY",
                    },
                )
            case Role.ANOMALIES:
                # grid: the Confluent-Avro bytes ENCODE_ANOMALY made; rocket: the AnomalyAlert JSON of the columns.
                value = (
                    {"value.format": "raw", "value.fields-include": "EXCEPT_KEY"}
                    if spec.profile == "grid"
                    else {
                        "value.format": "json",
                        "value.fields-include": "EXCEPT_KEY",
                        "value.json.encode.ignore-null-fields": "true",
                    }
                )
                return kafka_options(spec.outputs.anomalies_topic, bootstrap, key_and_value | value | _PROMPT_DELIVERY)
            case Role.DEAD_LETTERS:
                return dead_letter_options(self.pipeline, self.dead_letter_target())
            case Role.INFLUXDB:
                return influx_options(self.pipeline, self.wiring.influxdb, self.dead_letter_target())
            case Role.ARCHIVE:
                path = archive_path(self.pipeline, table.dataset, self.wiring.archive_root)
                return archive_options(path, spec.sinks.archive)

    def dead_letter_target(self) -> DeadLetterTarget:
        return DeadLetterTarget(
            self.pipeline.spec.outputs.dead_letter_topic,
            self.wiring.bootstrap,
            self.wiring.dead_letter_schema_id,
            self.wiring.dead_letter_schema,
        )


def with_functions(sql: JobSql) -> JobSql:
    """``sql`` with a CREATE FUNCTION first for each JVM function its statements call, and only those: a job then
    needs no class it does not use (a job of this checkout's SQL runs with an earlier build of the functions jar, as
    the upgrade test does, as long as it calls nothing newer)."""
    text = "\n".join([*sql.ddl, *sql.inserts])
    used = [name for name in FUNCTIONS if re.search(rf"\b{name}\(", text)]
    ddl = [f"CREATE TEMPORARY FUNCTION {name} AS {literal(FUNCTIONS[name])} LANGUAGE JAVA" for name in used]
    return JobSql([*ddl, *sql.ddl], sql.inserts)


def insert(table: Table, columns: Columns, source: str, where: str | None = None) -> str:
    """``INSERT INTO table SELECT ...``, whose SELECT names every column of the table, in the table's order."""
    expected = [c.name for c in table.columns]
    if list(columns) != expected:
        raise ValueError(f"the SELECT into {table.name} gives {list(columns)}, the table takes {expected}")
    return insert_into(table.name, select(columns, source, where))


def dead_letters(decoded: str, decoder: str = "") -> str:
    """The rejected records of ``decoded`` into the dead-letter sink; ``decoder`` qualifies the decoder's columns
    (``t.`` when they are in a ROW ``t``)."""
    return insert(
        DEAD_LETTERS,
        {
            "reason": f"{decoder}reason",
            "error_class": f"{decoder}error_class",
            "error_message": f"{decoder}error_message",
            "source_topic": "`topic`",
            "source_partition": "`partition`",
            "source_offset": "`offset`",
            "source_timestamp": "kafka_time",
            "original_key": "`key`",
            "original_value": "`value`",
        },
        decoded,
        where=f"{decoder}reason IS NOT NULL",
    )


def alert_id(pipeline: str, *parts: str) -> str:
    """SQL for a deterministic alert id: the pipeline name and 16 hex digits of SHA-256 over the parts."""
    joined = ", ".join(parts)
    return f"CONCAT({literal(pipeline + ':')}, SUBSTR(SHA256(CONCAT_WS('|', {literal(pipeline)}, {joined})), 1, 16))"


def alert_key(key: str, anomaly_type: str, severity: str) -> str:
    """SQL for an alert's record key on the anomalies topic, counted and timed there from its event time and its
    source record's Kafka timestamp (``AlertKey`` in jobs/java)."""
    return f"ALERT_KEY({key}, {anomaly_type}, {severity}, event_time, kafka_time)"


def name_uuid(pipeline: str, *parts: str) -> str:
    """SQL for a deterministic alert id that is a UUID: version 5 (name-based) of the pipeline name and the parts."""
    joined = ", ".join(parts)
    return f"NAME_UUID(CONCAT_WS('|', {literal(pipeline)}, {joined}))"


def name_uuid_of(pipeline: str, *values: str) -> str:
    """What ``name_uuid`` computes for parts whose SQL values are ``values``."""
    return str(uuid.uuid5(ALERT_ID_NAMESPACE, "|".join((pipeline, *values))))


def archive_table(dataset: str, columns: Sequence[Column]) -> Table:
    """The archive table ``archive_<dataset>``: its columns, then the event date it is partitioned by."""
    partitions = tuple(Column(p, "STRING") for p in PARTITION_COLUMNS)
    return Table(f"archive_{dataset}", Role.ARCHIVE, (*columns, *partitions), PARTITION_COLUMNS, dataset)


# Where an archived event was in its topic.
KAFKA_POSITION = (Column("kafka_partition", "INT"), Column("kafka_offset", "BIGINT"))
