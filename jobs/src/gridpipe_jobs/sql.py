"""The job's topology as Flink SQL, generated from a validated GridPipeline. Pure: no Flink, no network.

Grid:   source (raw bytes) -> DECODE_READING -> bad: gridpipe-dead-letters sink -> dead-letter topic
                                             -> good: ZSCORE per field, equipment status -> ENCODE_ANOMALY -> anomalies
Rocket: source (raw bytes) -> DECODE_TELEMETRY -> bad: dead-letter topic
                                               -> good: one row per rule that fires -> AnomalyAlert JSON -> anomalies
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass

from gridpipe_jobs.severity import (
    CONCURRENT_CRITICAL,
    EQUIPMENT_FAILURE_SEVERITY,
    GRID_DEFAULT_SEVERITY,
    GRID_SIGMA_BANDS,
    ROCKET_SEVERITY,
)
from gridpipe_jobs.sinks import (
    Column,
    DeadLetterTarget,
    InfluxEndpoint,
    archive_path,
    archive_table,
    date_partitions,
    dead_letter_table,
    event_columns,
    influx_table,
)
from gridpipe_schemas.pipeline import GridPipeline, RocketRule

FUNCTIONS = {
    "DECODE_READING": "io.gridpipe.flink.DecodeSensorReading",
    "DECODE_TELEMETRY": "io.gridpipe.flink.DecodeTelemetry",
    "ZSCORE": "io.gridpipe.flink.ZScore",
    "ENCODE_ANOMALY": "io.gridpipe.flink.EncodeAnomalyEvent",
    "EVENT_YEAR": "io.gridpipe.flink.EventDatePart$Year",
    "EVENT_MONTH": "io.gridpipe.flink.EventDatePart$Month",
    "EVENT_DAY": "io.gridpipe.flink.EventDatePart$Day",
    "NAME_UUID": "io.gridpipe.flink.NameUuid",
}
# uuid5(NAMESPACE_URL, "https://gridpipe.io/alert-ids"), as jobs/java NameUuid.NAMESPACE.
ALERT_ID_NAMESPACE = uuid.UUID("f22caab3-4fe1-5b8a-9cd8-2b116621c70f")
_ZSCORE_TYPES = {
    "voltage": ("VOLTAGE_SURGE", "VOLTAGE_SAG"),
    "current": ("CURRENT_SURGE", "CURRENT_DROP"),
    "temperature": ("TEMPERATURE_HIGH", "TEMPERATURE_LOW"),
}
_UNITS = {"voltage": "V", "current": "A", "temperature": "C"}
_RULE_LABELS = {
    "engine_underperformance": "Engine Underperformance",
    "fuel_leak": "Fuel System Leak",
    "sensor_malfunction": "Sensor Malfunction",
    "guidance_failure": "Guidance System Failure",
    "thermal_anomaly": "Thermal Anomaly",
    "engine_shutdown": "Engine Shutdown",
    "multiple_anomalies": "Multiple Concurrent Issues",
}


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
    influxdb: InfluxEndpoint = dataclasses.field(default_factory=InfluxEndpoint)
    # Where archive paths start instead of s3://<bucket> (a file:// URI in tests of the SQL alone).
    archive_root: str | None = None


@dataclass(frozen=True)
class JobSql:
    ddl: list[str]
    inserts: list[str]


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _number(value: float) -> str:
    return repr(float(value))


def _kafka(topic: str, bootstrap: str, extra: dict[str, str]) -> str:
    options = {"connector": "kafka", "topic": topic, "properties.bootstrap.servers": bootstrap, **extra}
    return ", ".join(f"{literal(k)} = {literal(v)}" for k, v in options.items())


def _raw_sink(name: str, topic: str, bootstrap: str) -> str:
    return (
        f"CREATE TEMPORARY TABLE {name} (`key` BYTES, `value` BYTES) WITH ("
        + _kafka(
            topic,
            bootstrap,
            {
                "key.format": "raw",
                "key.fields": "key",
                "value.format": "raw",
                "value.fields-include": "EXCEPT_KEY",
                # Alerts are wanted now, not at the next checkpoint: at-least-once with deterministic alert ids.
                "sink.delivery-guarantee": "at-least-once",
                "properties.linger.ms": "2",
            },
        )
        + ")"
    )


def _source(pipeline: GridPipeline, bootstrap: str) -> str:
    spec = pipeline.spec
    startup = {"group-offsets": "group-offsets", "earliest": "earliest-offset", "latest": "latest-offset"}
    return (
        "CREATE TEMPORARY TABLE source_records (`key` BYTES, `value` BYTES,"
        " `topic` STRING METADATA VIRTUAL, `partition` INT METADATA VIRTUAL,"
        " `offset` BIGINT METADATA VIRTUAL, `kafka_time` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL"
        ") WITH ("
        + _kafka(
            spec.source.topic,
            bootstrap,
            {
                "properties.group.id": f"gridpipe-{pipeline.metadata.name}",
                "properties.auto.offset.reset": "earliest",
                "scan.startup.mode": startup[spec.source.start_from],
                "key.format": "raw",
                "key.fields": "key",
                "value.format": "raw",
                "value.fields-include": "EXCEPT_KEY",
            },
        )
        + ")"
    )


def _functions() -> list[str]:
    return [f"CREATE TEMPORARY FUNCTION {name} AS {literal(cls)} LANGUAGE JAVA" for name, cls in FUNCTIONS.items()]


def _dead_letters(decoded: str, prefix: str) -> str:
    """The dead-letter INSERT; ``prefix`` qualifies the decoder's columns (``t.`` when they are in a ROW ``t``)."""
    return (
        f"INSERT INTO dead_letter_sink SELECT {prefix}reason, {prefix}error_class, {prefix}error_message, `topic`,"
        f" `partition`, `offset`, kafka_time, `key`, `value` FROM {decoded} WHERE {prefix}reason IS NOT NULL"
    )


def alert_id(pipeline: str, *parts: str) -> str:
    """SQL for a deterministic alert id: the pipeline name and 16 hex digits of SHA-256 over the parts."""
    joined = ", ".join(parts)
    return f"CONCAT({literal(pipeline + ':')}, SUBSTR(SHA256(CONCAT_WS('|', {literal(pipeline)}, {joined})), 1, 16))"


def name_uuid(pipeline: str, *parts: str) -> str:
    """SQL for a deterministic alert id that is a UUID: version 5 (name-based) of the pipeline name and the parts."""
    joined = ", ".join(parts)
    return f"NAME_UUID(CONCAT_WS('|', {literal(pipeline)}, {joined}))"


def name_uuid_of(pipeline: str, *values: str) -> str:
    """What ``name_uuid`` computes for parts whose SQL values are ``values``."""
    return str(uuid.uuid5(ALERT_ID_NAMESPACE, "|".join((pipeline, *values))))


def grid_severity_sql(deviation: str) -> str:
    cases = " ".join(
        f"WHEN ABS({deviation}) >= {_number(floor)} THEN {literal(name)}" for floor, name in GRID_SIGMA_BANDS
    )
    return f"CASE {cases} ELSE {literal(GRID_DEFAULT_SEVERITY)} END"


def _grid_anomaly_rows(pipeline: GridPipeline) -> list[str]:
    """One SELECT per detector, all with the columns of the ``anomalies`` view."""
    spec = pipeline.spec
    selects = []
    if spec.detection.zscore is not None:
        z = spec.detection.zscore
        window_ms = z.window.ms
        for field in z.fields:
            surge, sag = _ZSCORE_TYPES[field]
            description = (
                f"CONCAT({literal(field + ' ')}, CAST(ROUND(x, 2) AS STRING), {literal(' ' + _UNITS[field] + ' is ')},"
                f" CAST(ROUND(deviation, 2) AS STRING), {literal(f' sigma from the {z.window} mean ')},"
                f" CAST(ROUND(mean, 2) AS STRING), {literal(' ' + _UNITS[field])})"
            )
            selects.append(
                f"SELECT meter_id, event_time, CASE WHEN deviation > 0 THEN {literal(surge)} ELSE {literal(sag)} END"
                f" AS anomaly_type, {grid_severity_sql('deviation')} AS severity, {literal(field)} AS field,"
                f" x AS observed, CAST({_number(z.threshold)} AS DOUBLE) AS threshold, deviation, mean, stddev,"
                f" samples, CAST({window_ms} AS BIGINT) AS window_ms, {description} AS description, payload,"
                f" {literal(f'zscore:{field}')} AS rule FROM zscore_{field}"
            )
    if spec.detection.equipment_failure is not None and spec.detection.equipment_failure.enabled:
        null_double, null_long = "CAST(NULL AS DOUBLE)", "CAST(NULL AS BIGINT)"
        selects.append(
            f"SELECT meter_id, event_time, 'EQUIPMENT_FAILURE', {literal(EQUIPMENT_FAILURE_SEVERITY)},"
            f" CAST(NULL AS STRING), {null_double}, {null_double}, {null_double}, {null_double}, {null_double},"
            f" {null_long}, {null_long}, CONCAT('meter ', meter_id, ' reports EQUIPMENT_FAILURE'), payload, 'status'"
            " FROM readings WHERE status = 'EQUIPMENT_FAILURE'"
        )
    return selects


def grid_job(pipeline: GridPipeline, wiring: Wiring) -> JobSql:
    """Every detector's rows meet in one ``anomalies`` view that feeds Kafka, InfluxDB and the archive alike."""
    spec = pipeline.spec
    name = pipeline.metadata.name
    ddl = [
        *_functions(),
        _source(pipeline, wiring.bootstrap),
        _raw_sink("anomaly_sink", spec.outputs.anomalies_topic, wiring.bootstrap),
        dead_letter_table(pipeline, _dead_letter_target(pipeline, wiring)),
        "CREATE TEMPORARY VIEW decoded_records AS SELECT `key`, `value`, `topic`, `partition`, `offset`, kafka_time,"
        f" DECODE_READING(`value`, {literal(wiring.registry_url)}, {literal(wiring.reading_schema)}) AS r"
        " FROM source_records",
        # Flat from here on: an operator that passes a ROW column on copies it, and every branch would.
        "CREATE TEMPORARY VIEW decoded AS SELECT `key`, `value`, `topic`, `partition`, `offset`, kafka_time, "
        + ", ".join(f"r.{name} AS {name}" for name in _decoded_reading_columns(wiring))
        + " FROM decoded_records",
        "CREATE TEMPORARY VIEW readings AS SELECT meter_id, event_time, voltage, `current`, temperature, status,"
        " `value` AS payload FROM decoded WHERE reason IS NULL",
    ]
    inserts = [_dead_letters("decoded", "")]
    if spec.detection.zscore is not None:
        z = spec.detection.zscore
        window_ms, bucket_ms = z.window.ms, z.bucket.ms
        for field in z.fields:
            view = f"zscore_{field}"
            ddl.append(
                f"CREATE TEMPORARY VIEW {view}_input AS SELECT meter_id, event_time, `{field}` AS x, payload"
                " FROM readings"
            )
            ddl.append(
                f"CREATE TEMPORARY VIEW {view} AS SELECT * FROM ZSCORE(input => TABLE {view}_input PARTITION BY"
                f" meter_id, k => CAST({_number(z.threshold)} AS DOUBLE), min_samples => {z.min_samples},"
                f" window_ms => CAST({window_ms} AS BIGINT), bucket_ms => CAST({bucket_ms} AS BIGINT),"
                f" field => {literal(field)},"
                # A stable uid per field keeps the window state restorable when thresholds change.
                f" uid => {literal('zscore-' + field)})"
            )
    ddl.append("CREATE TEMPORARY VIEW anomalies AS " + " UNION ALL ".join(_grid_anomaly_rows(pipeline)))
    ddl.append(
        f"CREATE TEMPORARY VIEW alerts AS SELECT *, {alert_id(name, 'meter_id', 'CAST(event_time AS STRING)', 'rule')}"
        " AS alert_id FROM anomalies"
    )
    inserts.append(
        "INSERT INTO anomaly_sink SELECT CAST(meter_id AS BYTES),"
        f" ENCODE_ANOMALY({wiring.anomaly_schema_id}, {literal(wiring.anomaly_schema)},"
        f" {literal(wiring.registry_url)}, {literal(wiring.reading_schema)}, alert_id, {literal(name)},"
        " anomaly_type, severity, field, observed, threshold, deviation, mean, stddev, samples, window_ms, payload,"
        " CURRENT_TIMESTAMP, description) FROM alerts"
    )
    extra_ddl, extra_inserts = grid_sinks(pipeline, wiring)
    return JobSql(ddl + extra_ddl, inserts + extra_inserts)


@dataclass(frozen=True)
class SinkShape:
    """What differs between the grid and rocket jobs' sinks: the columns each sink takes from the job's views."""

    influx_columns: str  # the influx_sink columns, selected from the alerts view
    events_dataset: str  # the archive dataset of input events
    event_columns: list[Column]
    event_fields: str  # the event columns, selected from events_source
    events_source: str  # the relation of well-formed events (with kafka_partition/offset and event_time)
    anomaly_columns: list[Column]
    anomaly_fields: str  # the anomaly columns, selected from the alerts view


def sink_statements(pipeline: GridPipeline, wiring: Wiring, shape: SinkShape) -> tuple[list[str], list[str]]:
    """InfluxDB and archive tables and inserts of a job, for the sinks its spec enables."""
    sinks = pipeline.spec.sinks
    ddl: list[str] = []
    inserts: list[str] = []
    if sinks.influxdb.enabled:
        ddl.append(influx_table(pipeline, wiring.influxdb, _dead_letter_target(pipeline, wiring)))
        inserts.append(f"INSERT INTO influx_sink SELECT {shape.influx_columns} FROM alerts")
    if sinks.archive.enabled:
        kafka = [Column("kafka_partition", "INT"), Column("kafka_offset", "BIGINT")]
        events_table = f"archive_{shape.events_dataset}"
        for table, dataset, columns in (
            (events_table, shape.events_dataset, shape.event_columns + kafka),
            ("archive_anomalies", "anomalies", shape.anomaly_columns),
        ):
            ddl.append(
                archive_table(table, columns, archive_path(pipeline, dataset, wiring.archive_root), sinks.archive)
            )
        inserts.append(
            f"INSERT INTO {events_table} SELECT {shape.event_fields}, kafka_partition, kafka_offset,"
            f" {date_partitions('event_time')} FROM {shape.events_source}"
        )
        inserts.append(
            f"INSERT INTO archive_anomalies SELECT {shape.anomaly_fields}, {date_partitions('event_time')} FROM alerts"
        )
    return ddl, inserts


def grid_sinks(pipeline: GridPipeline, wiring: Wiring) -> tuple[list[str], list[str]]:
    name = literal(pipeline.metadata.name)
    readings = event_columns(wiring.reading_schema)
    event_fields = ", ".join(_decoded_names(readings))
    shape = SinkShape(
        influx_columns=f"{name}, meter_id, anomaly_type, severity, event_time, observed, deviation, threshold, mean,"
        " stddev, samples, window_ms, field, alert_id",
        events_dataset="readings",
        event_columns=readings,
        event_fields=event_fields,
        # Only the archived columns: the rows of this branch are copied where it forks from detection.
        events_source=f"(SELECT {event_fields}, `partition` AS kafka_partition, `offset` AS kafka_offset"
        " FROM decoded WHERE reason IS NULL)",
        anomaly_columns=GRID_ANOMALY_COLUMNS,
        anomaly_fields=f"alert_id, {name}, meter_id, event_time, anomaly_type, severity, field, observed, threshold,"
        " deviation, mean, stddev, samples, window_ms, description",
    )
    return sink_statements(pipeline, wiring, shape)


def _dead_letter_target(pipeline: GridPipeline, wiring: Wiring) -> DeadLetterTarget:
    return DeadLetterTarget(
        pipeline.spec.outputs.dead_letter_topic,
        wiring.bootstrap,
        wiring.dead_letter_schema_id,
        wiring.dead_letter_schema,
    )


# Decoder field names that differ from the Avro field names (`timestamp` is a reserved word in SQL).
_DECODED_NAMES = {"timestamp": "event_time", "current": "`current`"}


def _decoded_reading_columns(wiring: Wiring) -> list[str]:
    """DECODE_READING's fields: why a record was rejected, then the reading's (DecodeSensorReading.RESULT)."""
    return ["reason", "error_class", "error_message", *_decoded_names(event_columns(wiring.reading_schema))]


def _decoded_names(columns: list[Column]) -> list[str]:
    """The decoded view's names of the reading's columns."""
    return [_DECODED_NAMES.get(c.name, c.name) for c in columns]


GRID_ANOMALY_COLUMNS = [
    Column("alert_id", "STRING"),
    Column("pipeline", "STRING"),
    Column("meter_id", "STRING"),
    Column("event_time", "TIMESTAMP_LTZ(3)"),
    Column("anomaly_type", "STRING"),
    Column("severity", "STRING"),
    Column("field", "STRING"),
    Column("observed_value", "DOUBLE"),
    Column("threshold_sigma", "DOUBLE"),
    Column("deviation_sigma", "DOUBLE"),
    Column("window_mean", "DOUBLE"),
    Column("window_stddev", "DOUBLE"),
    Column("window_count", "BIGINT"),
    Column("window_length_ms", "BIGINT"),
    Column("description", "STRING"),
]


def _fires(rule: RocketRule) -> str:
    return f"({rule.parameter} >= {_number(rule.min)} AND {rule.parameter} <= {_number(rule.max)})"


def rocket_severity_sql(rule: RocketRule, total: str) -> str:
    bands, default = ROCKET_SEVERITY[rule.parameter]
    cases = [f"WHEN {total} >= {CONCURRENT_CRITICAL} THEN 'critical'"]
    for band in bands:
        condition = (
            f"{rule.parameter} > {_number(band.above)}"
            if band.above is not None
            else f"{rule.parameter} < {_number(band.below or 0.0)}"
        )
        cases.append(f"WHEN {condition} THEN {literal(band.severity)}")
    return f"CASE {' '.join(cases)} ELSE {literal(default)} END"


def _plain(value: float) -> str:
    return f"{value:g}" if value < 1e9 else "infinity"


def expected_range(rule: RocketRule) -> str:
    """The normal range of a parameter, as text: outside the rule's anomaly range (docs/detection.md)."""
    if rule.parameter == "thrust" and rule.min == rule.max == 0:
        return "not 0"
    if rule.max >= 1e9:
        return f"below {_plain(rule.min)}"
    return f"outside {_plain(rule.min)}-{_plain(rule.max)}"


TELEMETRY_COLUMNS = (
    "rocketId",
    "`timestamp`",
    "missionTime",
    "engineEfficiency",
    "burnRate",
    "sensorNoise",
    "guidanceError",
    "fuelLeakRate",
    "engineTemp",
    "thrust",
    "activeAnomalies",
    "altitude",
    "velocity",
    "fuelRemaining",
    "stage",
)
_TELEMETRY_ROW = (
    "ROW<rocketId STRING, `timestamp` STRING, missionTime DOUBLE, engineEfficiency DOUBLE,"
    " burnRate DOUBLE, sensorNoise DOUBLE, guidanceError DOUBLE, fuelLeakRate DOUBLE, engineTemp DOUBLE,"
    " thrust DOUBLE, activeAnomalies INT, altitude DOUBLE, velocity DOUBLE, fuelRemaining DOUBLE,"
    " stage INT>"
)


def rocket_job(pipeline: GridPipeline, wiring: Wiring) -> JobSql:
    spec = pipeline.spec
    name = pipeline.metadata.name
    rules = spec.rocket_rules
    alert_sink = (
        "CREATE TEMPORARY TABLE anomaly_sink (`key` BYTES, alertId STRING, `timestamp` STRING, rocketId STRING,"
        " missionTime DOUBLE, anomalyType STRING, severity STRING, affectedParameter STRING, currentValue DOUBLE,"
        f" expectedRange STRING, description STRING, originalTelemetry {_TELEMETRY_ROW}, totalAnomalies INT) WITH ("
        + _kafka(
            spec.outputs.anomalies_topic,
            wiring.bootstrap,
            {
                "key.format": "raw",
                "key.fields": "key",
                "value.format": "json",
                "value.fields-include": "EXCEPT_KEY",
                "value.json.encode.ignore-null-fields": "true",
                "sink.delivery-guarantee": "at-least-once",
                "properties.linger.ms": "2",
            },
        )
        + ")"
    )
    total = " + ".join(f"CASE WHEN {_fires(r)} THEN 1 ELSE 0 END" for r in rules)
    ddl = [
        *_functions(),
        _source(pipeline, wiring.bootstrap),
        alert_sink,
        dead_letter_table(pipeline, _dead_letter_target(pipeline, wiring)),
        "CREATE TEMPORARY VIEW decoded AS SELECT `key`, `value`, `topic`, `partition`, `offset`, kafka_time,"
        " DECODE_TELEMETRY(`value`) AS t FROM source_records",
        "CREATE TEMPORARY VIEW telemetry AS SELECT "
        + ", ".join(f"t.{c} AS {c}" for c in TELEMETRY_COLUMNS)
        + f", `partition` AS kafka_partition, `offset` AS kafka_offset, {_rocket_event_time('t.`timestamp`')}"
        " AS event_time FROM decoded WHERE t.reason IS NULL",
        f"CREATE TEMPORARY VIEW judged AS SELECT *, {total} AS totalAnomalies FROM telemetry",
    ]
    original = "ROW(" + ", ".join(TELEMETRY_COLUMNS) + ")"
    selects = []
    for rule in rules:
        label = _RULE_LABELS[rule.anomaly_type]
        selects.append(
            f"SELECT CAST(rocketId AS BYTES) AS `key`, "
            f"{name_uuid(name, 'rocketId', '`timestamp`', 'CAST(missionTime AS STRING)', literal(rule.parameter))}"
            f" AS alertId, `timestamp`, rocketId, missionTime, {literal(rule.anomaly_type)} AS anomalyType,"
            f" {rocket_severity_sql(rule, 'totalAnomalies')} AS severity, {literal(rule.parameter)}"
            f" AS affectedParameter, CAST({rule.parameter} AS DOUBLE) AS currentValue,"
            f" {literal(expected_range(rule))} AS expectedRange, {literal(f'{rule.parameter} anomaly: {label}')}"
            f" AS description, {original} AS originalTelemetry, totalAnomalies, event_time"
            f" FROM judged WHERE {_fires(rule)}"
        )
    ddl.append("CREATE TEMPORARY VIEW alerts AS " + " UNION ALL ".join(selects))
    inserts = [
        _dead_letters("decoded", "t."),
        "INSERT INTO anomaly_sink SELECT `key`, alertId, `timestamp`, rocketId, missionTime, anomalyType, severity,"
        " affectedParameter, currentValue, expectedRange, description, originalTelemetry, totalAnomalies FROM alerts",
    ]
    extra_ddl, extra_inserts = rocket_sinks(pipeline, wiring)
    return JobSql(ddl + extra_ddl, inserts + extra_inserts)


def _rocket_event_time(text: str) -> str:
    """The ISO-8601 UTC `timestamp` of telemetry as TIMESTAMP_LTZ(3); the Kafka timestamp when it does not parse."""
    parsed = f"TO_TIMESTAMP(REPLACE(SUBSTR({text}, 1, 23), 'T', ' '), 'yyyy-MM-dd HH:mm:ss.SSS')"
    return f"COALESCE(CAST({parsed} AS TIMESTAMP_LTZ(3)), kafka_time)"


ROCKET_ANOMALY_COLUMNS = [
    Column("alertId", "STRING"),
    Column("timestamp", "STRING"),
    Column("event_time", "TIMESTAMP_LTZ(3)"),
    Column("rocketId", "STRING"),
    Column("missionTime", "DOUBLE"),
    Column("anomalyType", "STRING"),
    Column("severity", "STRING"),
    Column("affectedParameter", "STRING"),
    Column("currentValue", "DOUBLE"),
    Column("expectedRange", "STRING"),
    Column("description", "STRING"),
    Column("totalAnomalies", "INT"),
]


def rocket_sinks(pipeline: GridPipeline, wiring: Wiring) -> tuple[list[str], list[str]]:
    telemetry = event_columns(wiring.telemetry_schema)
    shape = SinkShape(
        influx_columns=f"{literal(pipeline.metadata.name)}, rocketId, anomalyType, severity, event_time, currentValue,"
        " expectedRange, affectedParameter, missionTime, totalAnomalies, alertId",
        events_dataset="telemetry",
        event_columns=telemetry,
        event_fields=", ".join(f"`{c.name}`" for c in telemetry),
        events_source="telemetry",
        anomaly_columns=ROCKET_ANOMALY_COLUMNS,
        anomaly_fields=", ".join(f"`{c.name}`" for c in ROCKET_ANOMALY_COLUMNS),
    )
    return sink_statements(pipeline, wiring, shape)


def job_sql(pipeline: GridPipeline, wiring: Wiring) -> JobSql:
    return grid_job(pipeline, wiring) if pipeline.spec.profile == "grid" else rocket_job(pipeline, wiring)
