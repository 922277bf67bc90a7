"""The sink tables and inserts a pipeline generates, the archive's column derivation, the job entry's options."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from gridpipe_jobs.flinkrest import root_cause
from gridpipe_jobs.job import _pipeline_from_args, checkpoint_timeout_ms, job_config, reads_of
from gridpipe_jobs.sinks import InfluxEndpoint, archive_path, event_columns, influx_columns
from gridpipe_jobs.sql.common import JobSql, Wiring
from gridpipe_jobs.sql.grid import ANOMALY_COLUMNS as GRID_ANOMALY_COLUMNS
from gridpipe_jobs.sql.rocket import TELEMETRY_NAMES
from gridpipe_jobs.sql.topology import job_sql
from gridpipe_schemas.catalog import avro
from gridpipe_schemas.pipeline import PRD_RULES, GridPipeline, PipelineInvalid, load_pipeline, parse_pipeline

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _wiring(**overrides: object) -> Wiring:
    fields: dict[str, object] = {
        "bootstrap": "127.0.0.1:9092",
        "registry_url": "http://registry",
        "reading_schema": avro("SensorReading").text,
        "anomaly_schema_id": 11,
        "anomaly_schema": "{}",
        "dead_letter_schema_id": 12,
        "dead_letter_schema": avro("DeadLetter").text,
        "telemetry_schema": avro("TelemetryMessage").text,
        **overrides,
    }
    return Wiring(**fields)  # type: ignore[arg-type]


def test_archive_columns_follow_the_avro_schema() -> None:
    columns = [(c.name, c.sql_type) for c in event_columns(avro("SensorReading").text)]
    assert columns[:3] == [("meter_id", "STRING"), ("timestamp", "TIMESTAMP_LTZ(3)"), ("voltage", "DOUBLE")]
    assert ("status", "STRING") in columns and ("sequence", "BIGINT") in columns and ("firmware", "STRING") in columns
    assert [c.name for c in event_columns(avro("TelemetryMessage").text)][:2] == ["rocketId", "timestamp"]


def test_archived_anomalies_keep_their_column_names_across_the_t101_rename() -> None:
    """AnomalyEvent's threshold_used and deviation were threshold_sigma and deviation_sigma; the archive's columns
    keep those names so files written before and after the rename stay one table (docs/schemas.md)."""
    names = [c.name for c in GRID_ANOMALY_COLUMNS]
    assert names[7:10] == ["observed_value", "threshold_sigma", "deviation_sigma"]
    assert not {"threshold_used", "deviation", "original_event"} & set(names)


def test_archive_column_types_refuse_what_parquet_columns_cannot_be() -> None:
    schema = json.dumps({"type": "record", "name": "X", "fields": [{"name": "u", "type": ["null", "int", "string"]}]})
    with pytest.raises(ValueError, match="union"):
        event_columns(schema)


def _example(name: str, **sinks: dict[str, object]) -> GridPipeline:
    document = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
    for sink, settings in sinks.items():
        document["spec"]["sinks"][sink].update(settings)
    return parse_pipeline(document)


def test_archive_path_is_bucket_prefix_pipeline_dataset() -> None:
    pipeline = load_pipeline(ROOT / "examples" / "grid.yaml")
    assert archive_path(pipeline, "readings") == "s3://gridpipe-archive/grid-demo/readings"
    prefixed = _example("grid", archive={"prefix": "/lake/"})
    assert archive_path(prefixed, "anomalies") == "s3://gridpipe-archive/lake/grid-demo/anomalies"
    assert archive_path(pipeline, "readings", "file:///tmp/a/") == "file:///tmp/a/grid-demo/readings"


def test_grid_sinks_are_partitioned_parquet_and_tagged_points() -> None:
    sql = job_sql(load_pipeline(ROOT / "examples" / "grid.yaml"), _wiring())
    text = "\n".join(sql.ddl)
    assert "PARTITIONED BY (`year`, `month`, `day`)" in text and "'format' = 'parquet'" in text
    assert "'sink.rolling-policy.file-size' = '128MB'" in text
    assert "'sink.rolling-policy.rollover-interval' = '900000 ms'" in text
    assert "'connector' = 'gridpipe-influxdb'" in text and "'measurement' = 'grid_anomaly'" in text
    assert "'tag-columns' = 'pipeline,sensor_id,anomaly_type,severity,field'" in text
    assert "'token'" not in text and "'url'" not in text, "no connection options when the environment gives none"
    readings = next(i for i in sql.inserts if i.startswith("INSERT INTO archive_readings"))
    assert readings.startswith("INSERT INTO archive_readings\nSELECT\n  `meter_id`,\n  `event_time` AS `timestamp`,")
    assert readings.endswith(
        "  EVENT_YEAR(event_time) AS `year`,\n  EVENT_MONTH(event_time) AS `month`,\n  EVENT_DAY(event_time) AS `day`\n"
        "FROM archived_readings"
    )
    decoded = next(d for d in sql.ddl if d.startswith("CREATE TEMPORARY VIEW decoded AS"))
    assert "r.`event_time` AS `event_time`" in decoded and "r.`current` AS `current`" in decoded, "flat after decoding"


def _sources(sql: JobSql) -> dict[str, str]:
    """The job's Kafka sources, by table name."""
    return {d.split("\n")[0].split()[3]: d for d in sql.ddl if "'scan.startup.mode'" in d}


def test_the_rocket_archive_reads_the_source_into_views_of_its_own() -> None:
    """Nothing connects the archive to the alert path: its inserts read only its own views, which start at a second
    Kafka table with a consumer group of its own; the alert path's inserts read none of them."""
    pipeline = load_pipeline(ROOT / "examples" / "rocket.yaml")
    sql = job_sql(pipeline, _wiring())
    archive = [i for i in sql.inserts if i.startswith("INSERT INTO archive_")]
    alert_path = [i for i in sql.inserts if not i.startswith("INSERT INTO archive_")]
    assert len(archive) == 2 and all(i.endswith(("FROM archiving_alerts", "FROM archiving_telemetry")) for i in archive)
    assert not any("archiving_" in i or "archived_" in i for i in alert_path)
    sources = _sources(sql)
    assert list(sources) == ["source_records", "archiving_source_records"]
    group = f"gridpipe-{pipeline.metadata.name}"
    assert f"'properties.group.id' = '{group}'" in sources["source_records"]
    assert f"'properties.group.id' = '{group}-archive'" in sources["archiving_source_records"]
    # Only the archive, which commits at checkpoints, waits for its fetches to fill; the alert path's return at once.
    assert "'properties.fetch.min.bytes' = '524288'" in sources["archiving_source_records"]
    assert "fetch.min.bytes" not in sources["source_records"]
    views = [d for d in sql.ddl if d.startswith("CREATE TEMPORARY VIEW archiving_")]
    assert views and all("FROM source_records" not in v for v in views)


def test_the_grid_archive_reads_the_readings_and_the_published_alerts_each_once() -> None:
    """The grid archive is connected to the alert path by Kafka alone: it reads the source topic for the readings and
    the anomalies topic for the alerts (deduplicated by alert id), from the alerts published since the job was made,
    and detects nothing itself."""
    pipeline = load_pipeline(ROOT / "examples" / "grid.yaml")
    sql = job_sql(pipeline, _wiring(made_at_ms=1_767_225_600_000))
    archive = [i for i in sql.inserts if "archiving_" in i or "archived_" in i]
    assert [(i.split("\n")[0], i.rsplit("\n", 2)[-2:]) for i in archive] == [
        ("INSERT INTO archive_readings", ["  EVENT_DAY(event_time) AS `day`", "FROM archived_readings"]),
        ("INSERT INTO archive_anomalies", ["  EVENT_DAY(event_time) AS `day`", "FROM archiving_first_alerts"]),
        ("INSERT INTO dead_letter_sink", ["FROM archiving_alert_events", "WHERE reason IS NOT NULL"]),
    ]
    alert_path = [i for i in sql.inserts if i not in archive]
    assert len(alert_path) == 3 and not any("archiving_" in i or "archived_" in i for i in alert_path)
    archive_views = "\n".join(d for d in sql.ddl if d.startswith("CREATE TEMPORARY VIEW archiv"))
    assert "ZSCORE(" not in archive_views and "FROM source_records" not in archive_views
    assert "FIRST_SEEN(\n  input => TABLE archiving_alert_rows PARTITION BY alert_id," in archive_views

    sources = _sources(sql)
    assert list(sources) == ["source_records", "archiving_source_records", "archiving_alert_records"]
    group = f"gridpipe-{pipeline.metadata.name}"
    alerts = sources["archiving_alert_records"]
    assert f"'topic' = '{pipeline.spec.outputs.anomalies_topic}'" in alerts
    assert f"'properties.group.id' = '{group}-archive'" in alerts
    assert "'scan.startup.mode' = 'timestamp'" in alerts
    assert "'scan.startup.timestamp-millis' = '1767225600000'" in alerts
    for archive_source in ("archiving_source_records", "archiving_alert_records"):
        assert "'properties.fetch.min.bytes' = '524288'" in sources[archive_source]
    assert "fetch.min.bytes" not in sources["source_records"]


@pytest.mark.parametrize("profile", ["grid", "rocket"])
def test_influx_points_carry_the_original_event_as_a_json_string_field(profile: str) -> None:
    columns = [(c.name, c.sql_type) for c in influx_columns(profile)]
    assert columns[-2:] == [("alert_id", "STRING"), ("original_event", "STRING")]
    sql = job_sql(load_pipeline(ROOT / "examples" / f"{profile}.yaml"), _wiring())
    influx = next(i for i in sql.inserts if i.startswith("INSERT INTO influx_sink"))
    alerts = next(d for d in sql.ddl if d.startswith("CREATE TEMPORARY VIEW alerts"))
    if profile == "grid":
        reading = avro("SensorReading").text.replace("'", "''")
        assert f"  READING_JSON(payload, 'http://registry', '{reading}') AS `original_event`\nFROM alerts" in influx
        assert "READING_JSON" in "\n".join(d for d in sql.ddl if d.startswith("CREATE TEMPORARY FUNCTION"))
    else:
        assert influx.endswith("  `original_event`\nFROM alerts")
        keys = ", ".join(f"KEY '{name}' VALUE `{name}`" for name in TELEMETRY_NAMES)
        assert alerts.count(f"JSON_OBJECT({keys} NULL ON NULL) AS `original_event`") == len(PRD_RULES)
        assert [f["name"] for f in json.loads(avro("TelemetryMessage").text)["fields"]] == list(TELEMETRY_NAMES)


def test_influx_url_and_org_land_in_the_options_and_never_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDPIPE_INFLUXDB_URL", "http://influx:8086")
    monkeypatch.setenv("GRIDPIPE_INFLUXDB_ORG", "gridpipe")
    monkeypatch.setenv("GRIDPIPE_INFLUXDB_TOKEN", "secret-token")
    wiring = _wiring(influxdb=InfluxEndpoint.from_env(os.environ))
    text = "\n".join(job_sql(load_pipeline(ROOT / "examples" / "rocket.yaml"), wiring).ddl)
    assert "'url' = 'http://influx:8086'" in text and "'org' = 'gridpipe'" in text
    assert "secret-token" not in text and "'token'" not in text
    assert "'measurement' = 'rocket_anomaly'" in text and "archive_telemetry" in text
    assert "'tag-columns' = 'pipeline,sensor_id,anomaly_type,severity,parameter'" in text


def test_sinks_off_means_kafka_only() -> None:
    pipeline = _example("grid", influxdb={"enabled": False}, archive={"enabled": False})
    sql = job_sql(pipeline, _wiring())
    assert len(sql.inserts) == 2 and not any("influx" in d or "archive" in d for d in sql.ddl)


def _registered_functions(sql: JobSql) -> list[str]:
    return [d.split()[3] for d in sql.ddl if d.startswith("CREATE TEMPORARY FUNCTION")]


def test_a_job_registers_only_the_functions_it_calls() -> None:
    """So a job needs no class it does not use: the upgrade test runs this checkout's SQL with an earlier jar."""
    kafka_only = job_sql(_example("grid", influxdb={"enabled": False}, archive={"enabled": False}), _wiring())
    assert _registered_functions(kafka_only) == ["DECODE_READING", "ZSCORE", "ENCODE_ANOMALY", "ALERT_KEY"]
    archived = _registered_functions(job_sql(_example("grid"), _wiring()))
    assert {"DECODE_ANOMALY", "FIRST_SEEN", "READING_JSON", "EVENT_DAY"} <= set(archived)
    rocket = _registered_functions(job_sql(load_pipeline(ROOT / "examples" / "rocket.yaml"), _wiring()))
    assert "DECODE_TELEMETRY" in rocket and not {"ZSCORE", "DECODE_READING", "FIRST_SEEN"} & set(rocket)


def test_pipeline_json_is_the_same_document_as_the_file() -> None:
    path = ROOT / "examples" / "grid.yaml"
    from_json = _pipeline_from_args(None, json.dumps(yaml.safe_load(path.read_text())))
    assert from_json == _pipeline_from_args(path, None)
    with pytest.raises(PipelineInvalid, match="not JSON"):
        _pipeline_from_args(None, "{nope")
    with pytest.raises(PipelineInvalid, match="not a JSON object"):
        _pipeline_from_args(None, "[1]")


def test_checkpoint_timeout_bounds() -> None:
    assert checkpoint_timeout_ms(2_000) == 30_000
    assert checkpoint_timeout_ms(10_000) == 60_000
    assert checkpoint_timeout_ms(3_600_000) == 600_000


def test_a_job_names_its_restored_reads_in_its_global_job_parameters() -> None:
    grid = load_pipeline(ROOT / "examples" / "grid.yaml")
    parameters = job_config(grid, Path("functions.jar"))["pipeline.global-job-parameters"]
    assert parameters == "gridpipe.read.source:sensor-readings,gridpipe.read.archived-alerts:anomalies"
    # As the JobManager reports them back (`/jobs/<id>/config`), beside whatever else a job was given.
    reported = dict(pair.split(":", 1) for pair in parameters.split(",")) | {"other": "x"}
    assert reads_of(reported) == {"source": "sensor-readings", "archived alerts": "anomalies"}
    assert reads_of({"other": "x"}) is None  # a job made before gridpipe named them
    rocket = load_pipeline(ROOT / "examples" / "rocket.yaml")
    assert reads_of(dict([job_config(rocket, Path("f.jar"))["pipeline.global-job-parameters"].split(":")])) == {
        "source": rocket.spec.source.topic
    }


def test_a_failure_the_flink_rest_api_reports_is_cut_to_its_root_cause() -> None:
    trace = (
        "java.util.concurrent.CompletionException: wrapped\n\tat a.b(C.java:1)\n"
        "Caused by: org.apache.flink.runtime.checkpoint.CheckpointException: Not all required tasks are currently "
        "running.\n\tat d.e(F.java:2)\n"
    )
    failure = {"class": "java.util.concurrent.CompletionException", "stack-trace": trace, "serialized-throwable": "rO0"}
    assert root_cause(failure) == (
        "org.apache.flink.runtime.checkpoint.CheckpointException: Not all required tasks are currently running."
    )
    assert root_cause({"stack-trace": "java.io.IOException: disk full\n\tat x.y(Z.java:3)"}) == (
        "java.io.IOException: disk full"
    )
    assert root_cause("no trace") == "no trace"
