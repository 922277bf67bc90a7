"""The grid topology: Confluent-Avro smart-meter readings judged by rolling z-score and equipment status."""

from __future__ import annotations

from gridpipe_jobs.severity import EQUIPMENT_FAILURE_SEVERITY, GRID_DEFAULT_SEVERITY, GRID_SIGMA_BANDS
from gridpipe_jobs.sinks import date_partitions, event_columns, influx_columns
from gridpipe_jobs.sql.common import (
    ALERT_PATH,
    ARCHIVE_ALERT_RECORDS,
    ARCHIVE_PATH,
    DEAD_LETTERS,
    KAFKA_POSITION,
    Branch,
    Connectors,
    JobSql,
    Role,
    Table,
    Wiring,
    alert_id,
    alert_key,
    archive_table,
    dead_letters,
    insert,
)
from gridpipe_jobs.sql.text import Column, create_view, literal, number, quoted, same, select, union_all
from gridpipe_schemas.pipeline import GridPipeline, ZScore

ANOMALY_TYPES = {
    "voltage": ("VOLTAGE_SURGE", "VOLTAGE_SAG"),
    "current": ("CURRENT_SURGE", "CURRENT_DROP"),
    "temperature": ("TEMPERATURE_HIGH", "TEMPERATURE_LOW"),
}
UNITS = {"voltage": "V", "current": "A", "temperature": "C"}
# The reading's Avro fields the decoded view names otherwise: `timestamp` is a reserved word in SQL.
DECODED_NAMES = {"timestamp": "event_time"}
# One row per anomaly, whichever detector found it: the columns of the ``anomalies`` view.
ANOMALY_ROW = (
    "meter_id",
    "event_time",
    "anomaly_type",
    "severity",
    "field",
    "observed",
    "threshold",
    "deviation",
    "mean",
    "stddev",
    "samples",
    "window_ms",
    "description",
    "payload",
    "rule",
    "kafka_time",
)
# The archive's anomaly columns keep the names they had before the AnomalyEvent rename (docs/schemas.md).
ANOMALY_COLUMNS = (
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
)
ANOMALY_SINK = Table("anomaly_sink", Role.ANOMALIES, (Column("key", "BYTES"), Column("value", "BYTES")))
INFLUX_SINK = Table("influx_sink", Role.INFLUXDB, tuple(influx_columns("grid")))


def grid_topology(pipeline: GridPipeline, wiring: Wiring, connect: Connectors) -> JobSql:
    """The whole grid job, top to bottom: every detector's rows meet in one ``alerts`` view that feeds Kafka and
    InfluxDB; the archive reads the source and the anomalies topics itself (``_archive``)."""
    spec = pipeline.spec
    ddl = [*_views(pipeline, wiring, connect, ALERT_PATH), connect.table(DEAD_LETTERS)]
    inserts = [dead_letters("decoded")]

    # Sinks: the anomalies topic always; InfluxDB and the archive when the spec turns them on.
    ddl.append(connect.table(ANOMALY_SINK))
    anomaly = {"key": alert_key("meter_id", "anomaly_type", "severity"), "value": _encoded(pipeline, wiring)}
    inserts.append(insert(ANOMALY_SINK, anomaly, "alerts"))
    if spec.sinks.influxdb.enabled:
        ddl.append(connect.table(INFLUX_SINK))
        inserts.append(insert(INFLUX_SINK, _influx_point(pipeline, wiring), "alerts"))
    if spec.sinks.archive.enabled:
        archive = _archive(wiring, connect)
        ddl += archive.ddl
        inserts += archive.inserts
    return JobSql(ddl, inserts)


def _archive(wiring: Wiring, connect: Connectors) -> JobSql:
    """The archive's part of the job, connected to the alert path by Kafka alone: the readings from a read of the
    source topic of its own, the anomalies from the anomalies topic, each alert once (``FIRST_SEEN`` by alert id: the
    topic is at-least-once), and whatever on that topic is not an AnomalyEvent to the dead letters."""
    archive = ARCHIVE_PATH
    reading = event_columns(wiring.reading_schema)
    readings_archive = archive_table("readings", (*reading, *KAFKA_POSITION))
    anomalies_archive = archive_table("anomalies", ANOMALY_COLUMNS)
    alert_columns = [c.name for c in ANOMALY_COLUMNS]
    ddl = [
        *_decoding(wiring, connect, archive),
        create_view(
            "archived_readings",
            select(
                {
                    **{_decoded(c): quoted(_decoded(c)) for c in reading},
                    "kafka_partition": "`partition`",
                    "kafka_offset": "`offset`",
                },
                archive("decoded"),
                where="reason IS NULL",
            ),
        ),
        connect.table(ARCHIVE_ALERT_RECORDS),
        *_decoded_views(
            ARCHIVE_ALERT_RECORDS.name,
            f"DECODE_ANOMALY(`value`, {literal(wiring.registry_url)}, {literal(wiring.anomaly_schema)})",
            alert_columns,
            archive("alert_events"),
        ),
        create_view(
            archive("alert_rows"),
            select({column: quoted(column) for column in alert_columns}, archive("alert_events"), "reason IS NULL"),
        ),
        create_view(
            archive("first_alerts"),
            f"SELECT * FROM FIRST_SEEN(\n  input => TABLE {archive('alert_rows')} PARTITION BY alert_id,\n"
            f"  uid => {literal(archive('first-seen-alerts'))}\n)",
        ),
        connect.table(readings_archive),
        connect.table(anomalies_archive),
    ]
    inserts = [
        insert(
            readings_archive,
            {
                **{c.name: quoted(_decoded(c)) for c in reading},
                **same("kafka_partition", "kafka_offset"),
                **date_partitions("event_time"),
            },
            "archived_readings",
        ),
        insert(
            anomalies_archive,
            {**{column: quoted(column) for column in alert_columns}, **date_partitions("event_time")},
            archive("first_alerts"),
        ),
        dead_letters(archive("alert_events")),
    ]
    return JobSql(ddl, inserts)


# What every decoded view keeps of its Kafka record, and what its decoder says of a record it rejects.
RECORD_COLUMNS = ("key", "value", "topic", "partition", "offset", "kafka_time")
REJECTION_COLUMNS = ("reason", "error_class", "error_message")


def _decoding(wiring: Wiring, connect: Connectors, branch: Branch) -> list[str]:
    """The branch's source table and its records decoded, flat: rejected records keep their reason."""
    call = f"DECODE_READING(`value`, {literal(wiring.registry_url)}, {literal(wiring.reading_schema)})"
    fields = [_decoded(c) for c in event_columns(wiring.reading_schema)]
    return [connect.table(branch.records), *_decoded_views(branch.records.name, call, fields, branch("decoded"))]


def _decoded_views(records: str, decoder_call: str, fields: list[str], decoded: str) -> list[str]:
    """View ``decoded``: each record of ``records`` beside what ``decoder_call`` made of it (a ROW of the rejection
    columns and ``fields``), flat. The ROW is computed in a view of its own first, ``<decoded>_records``, so the
    decoder runs once per record."""
    return [
        create_view(f"{decoded}_records", select({**same(*RECORD_COLUMNS), "r": decoder_call}, records)),
        # Flat from here on: an operator that passes a ROW column on copies it, and every branch would.
        create_view(
            decoded,
            select(
                {
                    **same(*RECORD_COLUMNS),
                    **{column: f"r.{quoted(column)}" for column in (*REJECTION_COLUMNS, *fields)},
                },
                f"{decoded}_records",
            ),
        ),
    ]


def _views(pipeline: GridPipeline, wiring: Wiring, connect: Connectors, branch: Branch) -> list[str]:
    """The branch's source table and views, from the records to ``alerts``: decoded (rejected records keep their
    reason), readings, one ZSCORE per judged field, equipment status, and every anomaly as one row."""
    spec, name = pipeline.spec, pipeline.metadata.name
    ddl = [
        *_decoding(wiring, connect, branch),
        create_view(
            branch("readings"),
            select(
                {
                    **same("meter_id", "event_time", "voltage", "current", "temperature", "status"),
                    "payload": "`value`",
                    "kafka_time": "kafka_time",
                },
                branch("decoded"),
                where="reason IS NULL",
            ),
        ),
    ]

    # Detection: one ZSCORE per judged field, equipment status; every anomaly a row of the same columns.
    detections = []
    if spec.detection.zscore is not None:
        for field in spec.detection.zscore.fields:
            ddl += _zscore_views(spec.detection.zscore, field, branch)
            detections.append(_zscore_anomalies(spec.detection.zscore, field, branch))
    if spec.detection.equipment_failure is not None and spec.detection.equipment_failure.enabled:
        detections.append(_equipment_failures(branch))
    ddl += [
        create_view(branch("anomalies"), union_all(detections)),
        create_view(
            branch("alerts"),
            select(
                {
                    **same(*ANOMALY_ROW),
                    "alert_id": alert_id(name, "meter_id", "CAST(event_time AS STRING)", "rule"),
                },
                branch("anomalies"),
            ),
        ),
    ]
    return ddl


def _decoded(column: Column) -> str:
    return DECODED_NAMES.get(column.name, column.name)


def _zscore_views(zscore: ZScore, field: str, branch: Branch) -> list[str]:
    view = branch(f"zscore_{field}")
    arguments = {
        "input": f"TABLE {view}_input PARTITION BY meter_id",
        "k": f"CAST({number(zscore.threshold)} AS DOUBLE)",
        "min_samples": str(zscore.min_samples),
        "window_ms": f"CAST({zscore.window.ms} AS BIGINT)",
        "bucket_ms": f"CAST({zscore.bucket.ms} AS BIGINT)",
        "field": literal(field),
        # A stable uid per field keeps the window state restorable when thresholds change.
        "uid": literal(branch(f"zscore-{field}")),
    }
    call = ",\n  ".join(f"{name} => {value}" for name, value in arguments.items())
    return [
        create_view(
            f"{view}_input",
            select(
                {**same("meter_id", "event_time"), "x": quoted(field), **same("payload", "kafka_time")},
                branch("readings"),
            ),
        ),
        create_view(view, f"SELECT * FROM ZSCORE(\n  {call}\n)"),
    ]


def _anomaly_row(**values: str) -> dict[str, str]:
    """A SELECT list of ANOMALY_ROW's columns, in its order: every branch of the UNION names each of them."""
    if set(values) != set(ANOMALY_ROW):
        raise ValueError(f"an anomaly row needs exactly {ANOMALY_ROW}, not {sorted(values)}")
    return {column: values[column] for column in ANOMALY_ROW}


def severity_sql(deviation: str) -> str:
    cases = " ".join(
        f"WHEN ABS({deviation}) >= {number(floor)} THEN {literal(name)}" for floor, name in GRID_SIGMA_BANDS
    )
    return f"CASE {cases} ELSE {literal(GRID_DEFAULT_SEVERITY)} END"


def _zscore_anomalies(zscore: ZScore, field: str, branch: Branch) -> str:
    surge, sag = ANOMALY_TYPES[field]
    unit = UNITS[field]
    description = (
        f"CONCAT({literal(field + ' ')}, CAST(ROUND(x, 2) AS STRING), {literal(f' {unit} is ')},"
        f" CAST(ROUND(deviation, 2) AS STRING), {literal(f' sigma from the {zscore.window} mean ')},"
        f" CAST(ROUND(mean, 2) AS STRING), {literal(' ' + unit)})"
    )
    row = _anomaly_row(
        meter_id="meter_id",
        event_time="event_time",
        anomaly_type=f"CASE WHEN deviation > 0 THEN {literal(surge)} ELSE {literal(sag)} END",
        severity=severity_sql("deviation"),
        field=literal(field),
        observed="x",
        threshold=f"CAST({number(zscore.threshold)} AS DOUBLE)",
        deviation="deviation",
        mean="mean",
        stddev="stddev",
        samples="samples",
        window_ms=f"CAST({zscore.window.ms} AS BIGINT)",
        description=description,
        payload="payload",
        rule=literal(f"zscore:{field}"),
        kafka_time="kafka_time",
    )
    return select(row, branch(f"zscore_{field}"))


def _equipment_failures(branch: Branch) -> str:
    no_double, no_long = "CAST(NULL AS DOUBLE)", "CAST(NULL AS BIGINT)"
    row = _anomaly_row(
        meter_id="meter_id",
        event_time="event_time",
        anomaly_type="'EQUIPMENT_FAILURE'",
        severity=literal(EQUIPMENT_FAILURE_SEVERITY),
        field="CAST(NULL AS STRING)",
        observed=no_double,
        threshold=no_double,
        deviation=no_double,
        mean=no_double,
        stddev=no_double,
        samples=no_long,
        window_ms=no_long,
        description="CONCAT('meter ', meter_id, ' reports EQUIPMENT_FAILURE')",
        payload="payload",
        rule="'status'",
        kafka_time="kafka_time",
    )
    return select(row, branch("readings"), where="status = 'EQUIPMENT_FAILURE'")


def _encoded(pipeline: GridPipeline, wiring: Wiring) -> str:
    """The AnomalyEvent in the Confluent wire format, under its registered schema id."""
    arguments = [
        str(wiring.anomaly_schema_id),
        literal(wiring.anomaly_schema),
        literal(wiring.registry_url),
        literal(wiring.reading_schema),
        "alert_id",
        literal(pipeline.metadata.name),
        *("anomaly_type", "severity", "field", "observed", "threshold", "deviation", "mean", "stddev", "samples"),
        *("window_ms", "payload", "CURRENT_TIMESTAMP", "description"),
    ]
    return "ENCODE_ANOMALY(" + ", ".join(arguments) + ")"


def _influx_point(pipeline: GridPipeline, wiring: Wiring) -> dict[str, str]:
    return {
        "pipeline": literal(pipeline.metadata.name),
        "sensor_id": "meter_id",
        **same("anomaly_type", "severity", "event_time"),
        "value": "observed",
        **same("deviation", "threshold"),
        "window_mean": "mean",
        "window_stddev": "stddev",
        "window_samples": "samples",
        **same("window_ms", "field", "alert_id"),
        # The reading the alert was raised on, as JSON: decoded again from its bytes (alerts are rare).
        "original_event": f"READING_JSON(payload, {literal(wiring.registry_url)}, {literal(wiring.reading_schema)})",
    }
