"""The production sinks' table options: the dead-letter topic, anomalies into InfluxDB 2, events and anomalies into
Parquet on S3. The tables' columns are the topologies' (gridpipe_jobs.sql).

Pure: no Flink, no network. docs/sinks.md explains the choices.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridpipe_jobs.sql.text import Column
from gridpipe_schemas.endpoints import ServiceEndpoints
from gridpipe_schemas.pipeline import ArchiveSink, GridPipeline
from gridpipe_schemas.resources import archive_pipeline_prefix

INFLUX_URL_ENV = "GRIDPIPE_INFLUXDB_URL"
INFLUX_ORG_ENV = "GRIDPIPE_INFLUXDB_ORG"
MEASUREMENTS = {"grid": "grid_anomaly", "rocket": "rocket_anomaly"}
INFLUX_TAGS = ("pipeline", "sensor_id", "anomaly_type", "severity")
# A point is its measurement, tags and time: the measured quantity must be a tag too, or two rules of one anomaly
# type firing on one record (rocket: burnRate and fuelLeakRate are both fuel_leak) would overwrite each other.
QUANTITY_TAG = {"grid": "field", "rocket": "parameter"}
PARTITION_COLUMNS = ("year", "month", "day")


@dataclass(frozen=True)
class InfluxEndpoint:
    """InfluxDB URL and organisation for the sink's options; either left unset is read on the TaskManager instead.

    No token: table options end up in the job graph. The writer reads GRIDPIPE_INFLUXDB_TOKEN from the TaskManager's
    environment, and only from there."""

    url: str | None = None
    org: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> InfluxEndpoint:
        """GRIDPIPE_INFLUXDB_URL/ORG of ``env``, the environment the command line read."""
        return cls(env.get(INFLUX_URL_ENV), env.get(INFLUX_ORG_ENV))

    @classmethod
    def for_endpoints(cls, endpoints: ServiceEndpoints, env: Mapping[str, str]) -> InfluxEndpoint:
        """GRIDPIPE_INFLUXDB_URL/ORG where set in ``env``, else the InfluxDB of ``endpoints``."""
        given = cls.from_env(env)
        return cls(given.url or endpoints.influxdb.url, given.org or endpoints.influxdb.org)


_AVRO_PRIMITIVES = {
    "string": "STRING",
    "double": "DOUBLE",
    "float": "FLOAT",
    "int": "INT",
    "long": "BIGINT",
    "boolean": "BOOLEAN",
    "bytes": "BYTES",
}


def _sql_type(avro_type: Any) -> str:
    if isinstance(avro_type, list):
        present = [t for t in avro_type if t != "null"]
        if len(present) != 1:
            raise ValueError(f"the archive cannot store the Avro union {avro_type}: only [null, T] maps to a column")
        return _sql_type(present[0])
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") == "timestamp-millis":
            return "TIMESTAMP_LTZ(3)"
        if avro_type["type"] == "enum":
            return "STRING"
        return _sql_type(avro_type["type"])
    if avro_type in _AVRO_PRIMITIVES:
        return _AVRO_PRIMITIVES[avro_type]
    raise ValueError(f"the archive has no column type for the Avro type {avro_type!r}")


def event_columns(avro_schema: str) -> list[Column]:
    """The archive columns of an event: one per field of its Avro record schema, in order, same names."""
    record = json.loads(avro_schema)
    return [Column(f["name"], _sql_type(f["type"])) for f in record["fields"]]


def archive_path(pipeline: GridPipeline, dataset: str, root: str | None = None) -> str:
    """``s3://<bucket>[/<prefix>]/<pipeline>/<dataset>``, or the same under ``root`` (tests, benchmarks)."""
    archive = pipeline.spec.sinks.archive
    base = root.rstrip("/") if root else f"s3://{archive.bucket}"
    return dataset_root(base, archive.prefix, pipeline.metadata.name, dataset)


def dataset_root(base: str, prefix: str, pipeline: str, dataset: str) -> str:
    """``<base>/[<prefix>/]<pipeline>/<dataset>``; ``base`` is a bucket, an ``s3://`` URI or another root."""
    return "/".join(p for p in (base, archive_pipeline_prefix(prefix, pipeline), dataset) if p)


def archive_options(path: str, archive: ArchiveSink) -> dict[str, str]:
    """A Parquet filesystem table partitioned by event date; files become visible when a checkpoint completes."""
    return {
        "connector": "filesystem",
        "path": path,
        "format": "parquet",
        "parquet.compression": "SNAPPY",
        # Mostly unique doubles: dictionaries cost the writer CPU and fall back to plain anyway (docs/sinks.md).
        "parquet.enable.dictionary": "false",
        # 4 MB row groups (parquet-mr's default is 128 MB, held in the heap per open file): encoded data reaches the
        # S3 upload threads while the file is written, so the upload left for the checkpoint is short (docs/sinks.md).
        "parquet.block.size": str(4 * 1024 * 1024),
        # int64 timestamps in UTC: what pyarrow and DuckDB read as timestamps without a time-zone guess.
        "parquet.write.int64.timestamp": "true",
        "parquet.timestamp.time.unit": "millis",
        "parquet.utc-timezone": "true",
        "sink.rolling-policy.file-size": f"{archive.rollover_size_mb}MB",
        "sink.rolling-policy.rollover-interval": f"{archive.rollover_interval.ms} ms",
        "sink.rolling-policy.check-interval": f"{min(60_000, archive.rollover_interval.ms)} ms",
        "sink.partition-commit.policy.kind": "success-file",
        # Rows are hashed to writers by date: one day's files come from one writer, and the writer runs in a task of
        # its own instead of chained into the decoder's thread, so Parquet encoding overlaps decoding and detection.
        "sink.shuffle-by-partition.enable": "true",
        "sink.partition-commit.delay": "0 s",
    }


def date_partitions(event_time: str) -> dict[str, str]:
    """The partition columns of an archived row: the UTC date of its event time (jobs/java EventDatePart)."""
    return {part: f"EVENT_{part.upper()}({event_time})" for part in PARTITION_COLUMNS}


@dataclass(frozen=True)
class DeadLetterTarget:
    topic: str
    bootstrap: str
    schema_id: int
    schema: str


DEAD_LETTER_COLUMNS = (
    Column("reason", "STRING"),
    Column("error_class", "STRING"),
    Column("error_message", "STRING"),
    Column("source_topic", "STRING"),
    Column("source_partition", "INT"),
    Column("source_offset", "BIGINT"),
    Column("source_timestamp", "TIMESTAMP_LTZ(3)"),
    Column("original_key", "BYTES"),
    Column("original_value", "BYTES"),
)


def dead_letter_options(pipeline: GridPipeline, target: DeadLetterTarget) -> dict[str, str]:
    """The dead-letter sink (jobs/java deadletter): never fails the job over a letter; docs/detection.md, Bad input."""
    return {
        "connector": "gridpipe-dead-letters",
        "topic": target.topic,
        "bootstrap-servers": target.bootstrap,
        "schema-id": str(target.schema_id),
        "schema": target.schema,
        "pipeline": pipeline.metadata.name,
    }


# original_event: the event the alert was raised on, as compact JSON text (docs/sinks.md): the SensorReading's fields
# (READING_JSON, timestamp in epoch ms) or the TelemetryMessage's (JSON_OBJECT), every key present, null when absent.
INFLUX_FIELDS = {
    "grid": (
        Column("value", "DOUBLE"),
        Column("deviation", "DOUBLE"),
        Column("threshold", "DOUBLE"),
        Column("window_mean", "DOUBLE"),
        Column("window_stddev", "DOUBLE"),
        Column("window_samples", "BIGINT"),
        Column("window_ms", "BIGINT"),
        Column("field", "STRING"),
        Column("alert_id", "STRING"),
        Column("original_event", "STRING"),
    ),
    "rocket": (
        Column("value", "DOUBLE"),
        Column("expected_range", "STRING"),
        Column("parameter", "STRING"),
        Column("mission_time", "DOUBLE"),
        Column("total_anomalies", "INT"),
        Column("alert_id", "STRING"),
        Column("original_event", "STRING"),
    ),
}


def influx_columns(profile: str) -> list[Column]:
    """The InfluxDB sink's columns: tags, the event time, then fields in the order the SELECTs fill them."""
    return [
        *(Column(t, "STRING") for t in INFLUX_TAGS),
        Column("event_time", "TIMESTAMP_LTZ(3)"),
        *INFLUX_FIELDS[profile],
    ]


def influx_options(pipeline: GridPipeline, endpoint: InfluxEndpoint, dead_letters: DeadLetterTarget) -> dict[str, str]:
    spec = pipeline.spec
    settings = {
        "connector": "gridpipe-influxdb",
        "bucket": spec.sinks.influxdb.bucket,
        "measurement": MEASUREMENTS[spec.profile],
        "tag-columns": ",".join((*INFLUX_TAGS, QUANTITY_TAG[spec.profile])),
        "time-column": "event_time",
        "key-column": "sensor_id",
        "dead-letter.topic": dead_letters.topic,
        "dead-letter.bootstrap-servers": dead_letters.bootstrap,
        "dead-letter.schema-id": str(dead_letters.schema_id),
        "dead-letter.schema": dead_letters.schema,
        "dead-letter.pipeline": pipeline.metadata.name,
        "dead-letter.source-topic": spec.outputs.anomalies_topic,
    }
    for key, value in (("url", endpoint.url), ("org", endpoint.org)):
        if value:
            settings[key] = value
    return settings
