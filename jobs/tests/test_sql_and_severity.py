"""The generated topology and the severity tables, without Flink."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from gridpipe_jobs.severity import grid_severity, rocket_severity
from gridpipe_jobs.sql.common import ALERT_ID_NAMESPACE, Wiring, name_uuid_of
from gridpipe_jobs.sql.grid import severity_sql as grid_severity_sql
from gridpipe_jobs.sql.topology import job_sql
from gridpipe_schemas.catalog import avro, example
from gridpipe_schemas.pipeline import PRD_RULES, load_pipeline

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
WIRING = Wiring(
    "127.0.0.1:9092",
    "http://registry",
    avro("SensorReading").text,
    11,
    "{}",
    12,
    "{}",
    telemetry_schema=avro("TelemetryMessage").text,
)


@pytest.mark.parametrize(
    ("deviation", "severity"),
    [
        (2.6, "INFO"),
        (-2.99, "INFO"),
        (3.0, "WARNING"),
        (-4.49, "WARNING"),
        (4.5, "ERROR"),
        (5.99, "ERROR"),
        (6.0, "CRITICAL"),
        (-40.0, "CRITICAL"),
    ],
)
def test_grid_severity_bands(deviation: float, severity: str) -> None:
    assert grid_severity(deviation) == severity


def test_grid_severity_sql_checks_bands_from_the_top() -> None:
    sql = grid_severity_sql("d")
    assert sql.index("6.0") < sql.index("4.5") < sql.index("3.0")
    assert sql.endswith("ELSE 'INFO' END")


@pytest.mark.parametrize(
    ("parameter", "value", "total", "severity"),
    [
        ("thrust", 0.0, 1, "critical"),  # engine shutdown
        ("activeAnomalies", 3, 1, "critical"),  # 3+ concurrent anomalies
        ("activeAnomalies", 2, 1, "medium"),
        ("activeAnomalies", 1, 1, "low"),
        ("fuelLeakRate", 150.01, 1, "high"),  # critical fuel leak (> 150)
        ("fuelLeakRate", 150.0, 1, "medium"),  # moderate fuel leak
        ("engineTemp", 3700.5, 1, "high"),  # thermal anomaly > 3700
        ("engineTemp", 3700.0, 1, "low"),
        ("guidanceError", 5.01, 1, "high"),  # guidance failure > 5.0
        ("guidanceError", 5.0, 1, "low"),
        ("engineEfficiency", 59.9, 1, "medium"),  # underperformance < 60 %
        ("engineEfficiency", 60.0, 1, "low"),
        ("sensorNoise", 1.6, 1, "medium"),  # sensor malfunction
        ("burnRate", 2600.0, 1, "medium"),
        ("engineTemp", 3450.0, 3, "critical"),  # one of three rules firing on the same message
    ],
)
def test_rocket_severity_follows_prd_section_6(parameter: str, value: float, total: int, severity: str) -> None:
    assert rocket_severity(parameter, value, total) == severity


def test_expected_range_text() -> None:
    by_parameter = {r.parameter: r.expected_range for r in PRD_RULES}
    assert by_parameter["engineTemp"] == "outside 3400-4000"
    assert by_parameter["thrust"] == "not 0"
    assert by_parameter["activeAnomalies"] == "below 1"


def test_grid_topology_judges_each_field_with_the_configured_window() -> None:
    pipeline = load_pipeline(ROOT / "examples" / "grid.yaml")
    sql = job_sql(pipeline, WIRING)
    text = "\n".join(sql.ddl + sql.inserts)
    assert (
        "CREATE TEMPORARY VIEW zscore_voltage AS\nSELECT * FROM ZSCORE(\n"
        "  input => TABLE zscore_voltage_input PARTITION BY meter_id,\n"
        "  k => CAST(2.5 AS DOUBLE),\n"
        "  min_samples => 30,\n"
        "  window_ms => CAST(300000 AS BIGINT),\n"
        "  bucket_ms => CAST(10000 AS BIGINT),\n"
        "  field => 'voltage',\n"
        "  uid => 'zscore-voltage'\n)"
    ) in sql.ddl
    assert "WHERE status = 'EQUIPMENT_FAILURE'" in text
    # dead letters, anomalies (all detectors in one view), InfluxDB, archived readings, archived anomalies, and the
    # dead letters of the archive's read of the anomalies topic
    assert len(sql.inserts) == 6
    assert all("'sink.delivery-guarantee' = 'at-least-once'" in d for d in sql.ddl if "_sink" in d and "'kafka'" in d)


def test_rocket_topology_has_one_branch_per_rule() -> None:
    pipeline = load_pipeline(ROOT / "examples" / "rocket.yaml")
    sql = job_sql(pipeline, WIRING)
    alerts = next(d for d in sql.ddl if d.startswith("CREATE TEMPORARY VIEW alerts"))
    assert alerts.count("\nUNION ALL\n") == len(PRD_RULES) - 1
    assert "(engineTemp >= 3400.0 AND engineTemp <= 4000.0)" in alerts
    assert "'outside 3400-4000'" in alerts and "'engineTemp anomaly: Thermal Anomaly'" in alerts


def test_rocket_alert_ids_are_name_based_uuids_of_the_same_inputs() -> None:
    pipeline = load_pipeline(ROOT / "examples" / "rocket.yaml")
    alerts = next(d for d in job_sql(pipeline, WIRING).ddl if d.startswith("CREATE TEMPORARY VIEW alerts"))
    assert (
        "NAME_UUID(CONCAT_WS('|', 'rocket-demo', rocketId, `timestamp`, CAST(missionTime AS STRING), 'engineTemp'))"
        " AS `alertId`" in alerts
    )
    assert uuid.uuid5(uuid.NAMESPACE_URL, "https://gridpipe.io/alert-ids") == ALERT_ID_NAMESPACE
    # The same literals as jobs/java NameUuidTest: Python's uuid5 and the job's NAME_UUID agree.
    inputs = ("Falcon-9-001", "2025-01-10T14:30:00.000Z", "45.2", "engineTemp")
    assert name_uuid_of("rocket-demo", *inputs) == "f7c610d7-2d0b-57ef-a9ce-02b20aa822a7"
    assert str(uuid.uuid5(ALERT_ID_NAMESPACE, "naïve|Ünicode ✓")) == "d0b4f7cc-5222-57ed-8150-02d43fce3405"
    assert example("AnomalyAlert")["alertId"] == name_uuid_of("rocket-demo", *inputs)


def test_run_refuses_an_invalid_pipeline_before_touching_anything(tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml

    document = yaml.safe_load((ROOT / "examples" / "rocket.yaml").read_text())
    document["spec"]["detection"]["rules"][6].update(min=5.0, max=1.0)
    document["spec"]["flink"]["checkpointInterval"] = "ten seconds"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(document))
    done = subprocess.run(
        [sys.executable, "-m", "gridpipe_cli", "run", "-f", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "spec.detection.rules[6]: min must not be greater than max" in done.stderr
    assert "spec.flink.checkpointInterval: String should match pattern" in done.stderr
