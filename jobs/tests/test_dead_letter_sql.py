"""The dead-letter sink as the generated SQL declares it, without Flink: both profiles, one connector."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridpipe_jobs.sinks import DEAD_LETTER_COLUMNS
from gridpipe_jobs.sql.common import Wiring
from gridpipe_jobs.sql.topology import job_sql
from gridpipe_schemas.catalog import avro
from gridpipe_schemas.pipeline import load_pipeline

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
WIRING = Wiring(
    "127.0.0.1:9092",
    "http://registry",
    avro("SensorReading").text,
    11,
    "{}",
    12,
    avro("DeadLetter").text,
    telemetry_schema=avro("TelemetryMessage").text,
)


@pytest.mark.parametrize(("example", "qualifier"), [("grid.yaml", ""), ("rocket.yaml", "t.")])
def test_both_profiles_write_dead_letters_through_the_gridpipe_connector(example: str, qualifier: str) -> None:
    pipeline = load_pipeline(ROOT / "examples" / example)
    sql = job_sql(pipeline, WIRING)
    (table,) = [d for d in sql.ddl if d.startswith("CREATE TEMPORARY TABLE dead_letter_sink")]
    assert "'connector' = 'gridpipe-dead-letters'" in table
    assert f"'topic' = '{pipeline.spec.outputs.dead_letter_topic}'" in table
    assert "'schema-id' = '12'" in table and f"'pipeline' = '{pipeline.metadata.name}'" in table
    assert ",\n".join(f"  {c.ddl()}" for c in DEAD_LETTER_COLUMNS) in table
    # The alert path's (the grid archive's read of the anomalies topic has its own: test_sinks_sql.py).
    (insert,) = [i for i in sql.inserts if i.startswith("INSERT INTO dead_letter_sink") and "FROM decoded\n" in i]
    decoder_columns = ("reason", "error_class", "error_message")
    assert insert == (
        "INSERT INTO dead_letter_sink\nSELECT\n"
        + "".join(f"  {qualifier}{c} AS `{c}`,\n" if qualifier else f"  `{c}`,\n" for c in decoder_columns)
        + "  `topic` AS `source_topic`,\n"
        "  `partition` AS `source_partition`,\n"
        "  `offset` AS `source_offset`,\n"
        "  kafka_time AS `source_timestamp`,\n"
        "  `key` AS `original_key`,\n"
        "  `value` AS `original_value`\n"
        f"FROM decoded\nWHERE {qualifier}reason IS NOT NULL"
    )
    assert "ENCODE_DEAD_LETTER" not in "\n".join(sql.ddl + sql.inserts)
