"""A job upgraded from a savepoint of an earlier version keeps every meter's z-score window.

The window state changed type (``window``, ARRAY<DOUBLE>, became ``buckets``, packed BYTES: docs/performance.md):
the earlier jar's savepoint must still restore, and its windows must judge the next readings without a new warm-up.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import fastavro
import pytest

from gridpipe_jobs import flinkrest
from gridpipe_jobs.functions_jar import build_cache_dir, build_functions_jar
from gridpipe_jobs.job import register_schemas
from gridpipe_jobs.topics import SourceProgress
from gridpipe_schemas.catalog import parsed_avro
from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_stack.config import StackConfig
from jobtesting import consume, decode_avro, grid_document, unique

pytestmark = pytest.mark.integration
REPOSITORY = Path(__file__).resolve().parents[2]
# The last commit whose functions jar kept the window as `window`, ARRAY<DOUBLE>.
EARLIER = "17f4212"
METERS = 8
READINGS_PER_METER = 40  # over the pipeline's minSamples (30): each window is warm when the savepoint is taken
START_MS = 1_767_225_600_000


def _earlier_functions_jar(workdir: Path) -> Path:
    """The functions jar of EARLIER, built from git once (with the Avro schemas its own tests read) and cached beside
    this checkout's builds."""
    jar = build_cache_dir() / f"gridpipe-flink-functions-at-{EARLIER}.jar"
    if jar.is_file():
        return jar
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", EARLIER, "jobs/java", "schemas/src/gridpipe_schemas/avro"],
        capture_output=True,
        timeout=60,
    )
    if archive.returncode != 0:
        raise AssertionError(
            f"cannot read jobs/java at {EARLIER} from git ({archive.stderr.decode().strip()}) -- fix: run the tests in"
            f" a clone with history (git fetch --unshallow), or put that commit's jar at {jar}"
        )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(workdir, filter="data")
    return build_functions_jar(workdir / "jobs" / "java", jar)


def _produce(stack: StackConfig, topic: str, schema_id: int, readings: list[dict[str, Any]]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})
    schema = parsed_avro("SensorReading")
    for reading in readings:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, schema, reading)
        header = b"\x00" + schema_id.to_bytes(4, "big")
        producer.produce(topic, header + body.getvalue(), reading["meter_id"].encode())
    assert producer.flush(30) == 0


def _reading(meter: int, t_ms: int, voltage: float) -> dict[str, Any]:
    return {
        "meter_id": f"MTR-UPG-{meter:03d}",
        "timestamp": t_ms,
        "voltage": voltage,
        "current": 10.0,
        "temperature": 35.0,
        "status": "OK",
    }


def _wait_until_committed(stack: StackConfig, pipeline: GridPipeline, records: int, timeout: float = 120) -> None:
    """Until the job's alert-path consumer group has committed ``records`` records of its source topic: a checkpoint
    holds them all."""
    group = f"gridpipe-{pipeline.metadata.name}"
    with SourceProgress(pipeline, stack.kafka_bootstrap) as progress:
        deadline = time.monotonic() + timeout
        committed = 0
        while time.monotonic() < deadline:
            committed = progress.read()[1][group]
            if committed >= records:
                return
            time.sleep(1)
    raise AssertionError(f"group {group} committed {committed} of {records} records in {timeout:.0f}s")


def _warm_windows_and_stop_with_savepoint(stack: StackConfig, earlier: Any, tmp_path: Path) -> tuple[int, str]:
    """Warm every meter's window in the running ``earlier`` job (40 readings a second apart, 229 V and 231 V
    alternating: mean 230, stddev ~1), wait until a checkpoint holds them, and stop it with a savepoint; return the
    source's schema id and the savepoint."""
    spec = earlier.pipeline.spec
    schema_id = register_schemas(earlier.pipeline, stack.registry_url)[f"{spec.source.topic}-value"]
    warm = [
        _reading(meter, START_MS + i * 1000, 229.0 if i % 2 else 231.0)
        for i in range(READINGS_PER_METER)
        for meter in range(METERS)
    ]
    _produce(stack, spec.source.topic, schema_id, warm)
    _wait_until_committed(stack, earlier.pipeline, len(warm))
    return schema_id, flinkrest.stop_with_savepoint(stack.flink_url, earlier.job_id, (tmp_path / "savepoints").as_uri())


def _surge_alerts(stack: StackConfig, spec: Any, schema_id: int) -> list[dict[str, Any]]:
    """A 20-sigma surge on every meter, and the alerts the restored job raised on it."""
    surge = START_MS + READINGS_PER_METER * 1000
    _produce(stack, spec.source.topic, schema_id, [_reading(m, surge, 250.0) for m in range(METERS)])
    alerts = consume(stack, spec.outputs.anomalies_topic, expect=METERS, timeout=90)
    assert len(alerts) == METERS, (
        f"{len(alerts)} of {METERS} meters alerted on a 20-sigma surge after the restore: the restored windows "
        f"were lost (a fresh window needs {spec.detection.zscore and spec.detection.zscore.min_samples} readings)"
    )
    return decode_avro(stack, alerts)


def test_windows_of_an_earlier_versions_savepoint_judge_the_next_readings(
    local_stack: StackConfig, run_pipeline: Any, tmp_path: Path
) -> None:
    document = grid_document(unique("grid-upgrade"))
    earlier = run_pipeline(document, functions_jar=str(_earlier_functions_jar(tmp_path / "earlier")))
    schema_id, savepoint = _warm_windows_and_stop_with_savepoint(local_stack, earlier, tmp_path)

    run_pipeline(document, restore_from=savepoint)  # this checkout's jar, from the earlier one's savepoint
    events = _surge_alerts(local_stack, earlier.pipeline.spec, schema_id)
    counts = [event["window"]["count"] for event in events]
    assert counts == [READINGS_PER_METER] * METERS, "each alert judged against all 40 readings kept before the upgrade"
    assert statistics.fmean(event["window"]["mean"] for event in events) == pytest.approx(230.0)


def test_a_savepoint_restores_into_the_pipeline_after_a_change_that_removed_operators(
    local_stack: StackConfig, run_pipeline: Any, tmp_path: Path
) -> None:
    """A spec change (or an upgrade) that drops a z-score field and the archive leaves state in the savepoint that no
    operator of the new job claims; the job must still start from it, and the windows it kept still judge."""
    before = grid_document(unique("grid-shrink"), fields=["voltage", "current"])
    before["spec"]["sinks"] = {"archive": {"enabled": True}}
    earlier = run_pipeline(before)
    schema_id, savepoint = _warm_windows_and_stop_with_savepoint(local_stack, earlier, tmp_path)

    run_pipeline(grid_document(before["metadata"]["name"], fields=["voltage"]), restore_from=savepoint)
    events = _surge_alerts(local_stack, earlier.pipeline.spec, schema_id)
    assert [event["window"]["count"] for event in events] == [READINGS_PER_METER] * METERS
