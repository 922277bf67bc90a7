"""The rocket topology: JSON telemetry judged by the rule table, one AnomalyAlert per rule that fires."""

from __future__ import annotations

from gridpipe_jobs.severity import CONCURRENT_CRITICAL, ROCKET_SEVERITY
from gridpipe_jobs.sinks import date_partitions, event_columns, influx_columns
from gridpipe_jobs.sql.common import (
    ALERT_PATH,
    ARCHIVE_PATH,
    DEAD_LETTERS,
    KAFKA_POSITION,
    Branch,
    Connectors,
    JobSql,
    Role,
    Table,
    Wiring,
    alert_key,
    archive_table,
    dead_letters,
    insert,
    name_uuid,
)
from gridpipe_jobs.sql.text import Column, create_view, literal, number, quoted, same, select, union_all
from gridpipe_schemas.pipeline import GridPipeline, RocketRule, rocket_alert_description

# DECODE_TELEMETRY's fields of a well-formed message (DecodeTelemetry.RESULT, after reason and the error).
TELEMETRY = (
    Column("rocketId", "STRING"),
    Column("timestamp", "STRING"),
    Column("missionTime", "DOUBLE"),
    Column("engineEfficiency", "DOUBLE"),
    Column("burnRate", "DOUBLE"),
    Column("sensorNoise", "DOUBLE"),
    Column("guidanceError", "DOUBLE"),
    Column("fuelLeakRate", "DOUBLE"),
    Column("engineTemp", "DOUBLE"),
    Column("thrust", "DOUBLE"),
    Column("activeAnomalies", "INT"),
    Column("altitude", "DOUBLE"),
    Column("velocity", "DOUBLE"),
    Column("fuelRemaining", "DOUBLE"),
    Column("stage", "INT"),
)
TELEMETRY_NAMES = tuple(c.name for c in TELEMETRY)
ORIGINAL_TELEMETRY = "ROW<" + ", ".join(c.ddl() for c in TELEMETRY) + ">"
# The AnomalyAlert JSON, keyed by rocket.
# The AnomalyAlert fields from rocketId to description, shared by the Kafka sink and the archive.
_ALERT_BODY = (
    Column("rocketId", "STRING"),
    Column("missionTime", "DOUBLE"),
    Column("anomalyType", "STRING"),
    Column("severity", "STRING"),
    Column("affectedParameter", "STRING"),
    Column("currentValue", "DOUBLE"),
    Column("expectedRange", "STRING"),
    Column("description", "STRING"),
)
_ALERT_ID_AND_TIME = (Column("alertId", "STRING"), Column("timestamp", "STRING"))
_TOTAL_ANOMALIES = Column("totalAnomalies", "INT")
ANOMALY_SINK = Table(
    "anomaly_sink",
    Role.ANOMALIES,
    (
        Column("key", "BYTES"),
        *_ALERT_ID_AND_TIME,
        *_ALERT_BODY,
        Column("originalTelemetry", ORIGINAL_TELEMETRY),
        _TOTAL_ANOMALIES,
    ),
)
# The archive keeps the event time as a timestamp (its date partitions) and leaves the telemetry to the events dataset.
ANOMALY_COLUMNS = (*_ALERT_ID_AND_TIME, Column("event_time", "TIMESTAMP_LTZ(3)"), *_ALERT_BODY, _TOTAL_ANOMALIES)
INFLUX_SINK = Table("influx_sink", Role.INFLUXDB, tuple(influx_columns("rocket")))


def rocket_topology(pipeline: GridPipeline, wiring: Wiring, connect: Connectors) -> JobSql:
    """The whole rocket job, top to bottom: each rule is one SELECT of the ``alerts`` view, which feeds Kafka and
    InfluxDB; the archive gets the same views from a read of its own (``ARCHIVE_PATH``)."""
    spec = pipeline.spec
    ddl = [*_views(pipeline, connect, ALERT_PATH), connect.table(DEAD_LETTERS)]
    inserts = [dead_letters("decoded", decoder="t.")]

    # Sinks: the anomalies topic always; InfluxDB and the archive when the spec turns them on.
    ddl.append(connect.table(ANOMALY_SINK))
    anomaly = {**same(*(c.name for c in ANOMALY_SINK.columns)), "key": alert_key("rocketId", "anomalyType", "severity")}
    inserts.append(insert(ANOMALY_SINK, anomaly, "alerts"))
    if spec.sinks.influxdb.enabled:
        ddl.append(connect.table(INFLUX_SINK))
        inserts.append(insert(INFLUX_SINK, _influx_point(pipeline), "alerts"))
    if spec.sinks.archive.enabled:
        archive = ARCHIVE_PATH
        telemetry = event_columns(wiring.telemetry_schema)
        telemetry_archive = archive_table("telemetry", (*telemetry, *KAFKA_POSITION))
        anomalies_archive = archive_table("anomalies", ANOMALY_COLUMNS)
        ddl += [*_views(pipeline, connect, archive), connect.table(telemetry_archive), connect.table(anomalies_archive)]
        inserts += [
            insert(
                telemetry_archive,
                {**same(*(c.name for c in (*telemetry, *KAFKA_POSITION))), **date_partitions("event_time")},
                archive("telemetry"),
            ),
            insert(
                anomalies_archive,
                {**same(*(c.name for c in ANOMALY_COLUMNS)), **date_partitions("event_time")},
                archive("alerts"),
            ),
        ]
    return JobSql(ddl, inserts)


def _views(pipeline: GridPipeline, connect: Connectors, branch: Branch) -> list[str]:
    """The branch's source table and views, from the records to ``alerts``: decoded (rejected messages keep their
    reason), telemetry with its event time, how many rules fire on each message, one alert per rule that does."""
    name, rules = pipeline.metadata.name, pipeline.spec.rocket_rules
    return [
        connect.table(branch.records),
        create_view(
            branch("decoded"),
            select(
                {
                    **same("key", "value", "topic", "partition", "offset", "kafka_time"),
                    "t": "DECODE_TELEMETRY(`value`)",
                },
                branch.records.name,
            ),
        ),
        create_view(
            branch("telemetry"),
            select(
                {
                    **{column: f"t.{quoted(column)}" for column in TELEMETRY_NAMES},
                    "kafka_partition": "`partition`",
                    "kafka_offset": "`offset`",
                    "event_time": _event_time("t.`timestamp`"),
                    "kafka_time": "kafka_time",
                },
                branch("decoded"),
                where="t.reason IS NULL",
            ),
        ),
        create_view(
            branch("judged"),
            select(
                {
                    **same(*TELEMETRY_NAMES, "kafka_partition", "kafka_offset", "event_time", "kafka_time"),
                    "totalAnomalies": " + ".join(f"CASE WHEN {_fires(rule)} THEN 1 ELSE 0 END" for rule in rules),
                },
                branch("telemetry"),
            ),
        ),
        create_view(branch("alerts"), union_all(_alerts(name, rule, branch("judged")) for rule in rules)),
    ]


def _event_time(text: str) -> str:
    """The ISO-8601 UTC `timestamp` of telemetry as TIMESTAMP_LTZ(3); the Kafka timestamp when it does not parse."""
    parsed = f"TO_TIMESTAMP(REPLACE(SUBSTR({text}, 1, 23), 'T', ' '), 'yyyy-MM-dd HH:mm:ss.SSS')"
    return f"COALESCE(CAST({parsed} AS TIMESTAMP_LTZ(3)), kafka_time)"


def _fires(rule: RocketRule) -> str:
    return f"({rule.parameter} >= {number(rule.min)} AND {rule.parameter} <= {number(rule.max)})"


def severity_sql(rule: RocketRule, total: str) -> str:
    bands, default = ROCKET_SEVERITY[rule.parameter]
    cases = [f"WHEN {total} >= {CONCURRENT_CRITICAL} THEN 'critical'"]
    for band in bands:
        condition = (
            f"{rule.parameter} > {number(band.above)}"
            if band.above is not None
            else f"{rule.parameter} < {number(band.below or 0.0)}"
        )
        cases.append(f"WHEN {condition} THEN {literal(band.severity)}")
    return f"CASE {' '.join(cases)} ELSE {literal(default)} END"


def _alerts(pipeline: str, rule: RocketRule, judged: str) -> str:
    """The alerts of one rule: its messages where it fires."""
    parameter = literal(rule.parameter)
    description = rocket_alert_description(rule.parameter, rule.anomaly_type)
    alert = {
        "alertId": name_uuid(pipeline, "rocketId", "`timestamp`", "CAST(missionTime AS STRING)", parameter),
        **same("timestamp", "rocketId", "missionTime"),
        "anomalyType": literal(rule.anomaly_type),
        "severity": severity_sql(rule, "totalAnomalies"),
        "affectedParameter": parameter,
        "currentValue": f"CAST({rule.parameter} AS DOUBLE)",
        "expectedRange": literal(rule.expected_range),
        "description": literal(description),
        "originalTelemetry": "ROW(" + ", ".join(quoted(c) for c in TELEMETRY_NAMES) + ")",
        **same("totalAnomalies", "event_time", "kafka_time"),
        "original_event": original_telemetry_json(),
    }
    return select(alert, judged, where=_fires(rule))


def _influx_point(pipeline: GridPipeline) -> dict[str, str]:
    return {
        "pipeline": literal(pipeline.metadata.name),
        "sensor_id": "rocketId",
        "anomaly_type": "anomalyType",
        **same("severity", "event_time"),
        "value": "currentValue",
        "expected_range": "expectedRange",
        "parameter": "affectedParameter",
        "mission_time": "missionTime",
        "total_anomalies": "totalAnomalies",
        "alert_id": "alertId",
        "original_event": "original_event",
    }


def original_telemetry_json() -> str:
    """The telemetry message as compact JSON text for the InfluxDB point: every TelemetryMessage field under its own
    name, in order, null when absent. Made from the flat columns: the fields of ``originalTelemetry``, a ROW(...) of
    columns, are named EXPR$0, EXPR$1, ... until a sink's type names them."""
    pairs = ", ".join(f"KEY {literal(name)} VALUE {quoted(name)}" for name in TELEMETRY_NAMES)
    return f"JSON_OBJECT({pairs} NULL ON NULL)"
