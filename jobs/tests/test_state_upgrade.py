"""A job upgraded from a savepoint of an earlier version keeps every meter's z-score window.

The window state changed type (``window``, ARRAY<DOUBLE>, became ``buckets``, packed BYTES: docs/performance.md):
the earlier jar's savepoint must still restore, and its windows must judge the next readings without a new warm-up.
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import fastavro
import pytest
import typer
import yaml
from typer.testing import CliRunner

from gridpipe_jobs import cli, flinkrest
from gridpipe_jobs.functions_jar import build_cache_dir, build_functions_jar
from gridpipe_jobs.job import job_name, register_schemas
from gridpipe_jobs.topics import SourceProgress
from gridpipe_schemas.catalog import parsed_avro
from gridpipe_schemas.pipeline import GridPipeline, parse_pipeline
from gridpipe_stack.config import StackConfig
from jobtesting import cancel_quietly, consume, decode_avro, grid_document, unique

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


def _warm_windows(stack: StackConfig, pipeline: GridPipeline) -> int:
    """Warm every meter's window in the pipeline's running job (40 readings a second apart, 229 V and 231 V
    alternating: mean 230, stddev ~1) and wait until a checkpoint holds them; return the source's schema id."""
    spec = pipeline.spec
    schema_id = register_schemas(pipeline, stack.registry_url)[f"{spec.source.topic}-value"]
    warm = [
        _reading(meter, START_MS + i * 1000, 229.0 if i % 2 else 231.0)
        for i in range(READINGS_PER_METER)
        for meter in range(METERS)
    ]
    _produce(stack, spec.source.topic, schema_id, warm)
    _wait_until_committed(stack, pipeline, len(warm))
    return schema_id


def _warm_windows_and_stop_with_savepoint(stack: StackConfig, earlier: Any, tmp_path: Path) -> tuple[int, str]:
    """``_warm_windows`` in the running ``earlier`` job, then stop it with a savepoint; return the source's schema id
    and the savepoint."""
    schema_id = _warm_windows(stack, earlier.pipeline)
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


def _gridctl_run(stack: StackConfig, document: dict[str, Any], file: Path, *flags: str) -> str:
    """`gridctl run -f FILE [flags]` against the test stack; returns its output."""
    file.write_text(yaml.safe_dump(document))
    app = typer.Typer()
    app.command("run")(cli.run)
    result = CliRunner().invoke(app, ["-f", str(file), *flags], env=stack.environment())
    assert result.exit_code == 0, result.output
    return result.output


def test_gridctl_run_replace_keeps_the_windows_unless_the_source_topic_moved(
    local_stack: StackConfig, tmp_path: Path
) -> None:
    """`gridctl run --replace` of a changed spec takes the running job's place as the operator does on Kubernetes:
    through a savepoint, so a threshold change keeps every window; but a spec that moves the source topic starts
    without state, or the restored Kafka source would go on reading the old topic (FLINK-34089)."""
    document = grid_document(unique("grid-replace"))
    pipeline = parse_pipeline(document)
    file = tmp_path / "pipeline.yaml"
    try:
        _gridctl_run(local_stack, document, file)
        first_job = flinkrest.running_job_id(local_stack.flink_url, job_name(pipeline))
        spec = pipeline.spec
        schema_id = _warm_windows(local_stack, pipeline)

        document["spec"]["detection"]["zscore"]["threshold"] = 3.5
        replaced = _gridctl_run(local_stack, document, file, "--replace")
        assert f"stopped the previous job {first_job} with a savepoint" in replaced
        assert "the pipeline was without a job for" in replaced, "a replace says how long the pipeline had no job"
        again = _gridctl_run(local_stack, document, file, "--replace")  # the windows survive a second restore too
        savepoints = local_stack.data_dir / "flink" / "savepoints" / pipeline.metadata.name
        kept = [path.name for path in savepoints.iterdir()]
        assert len(kept) == 1 and kept[0] in again, "only the savepoint the running job restored is kept"
        events = _surge_alerts(local_stack, spec, schema_id)
        assert [event["window"]["count"] for event in events] == [READINGS_PER_METER] * METERS
        assert {event["threshold_used"] for event in events} == {3.5}

        old_topic, new_topic = spec.source.topic, f"{spec.source.topic}-v2"
        document["spec"]["source"]["topic"] = new_topic
        moved = _gridctl_run(local_stack, document, file, "--replace")
        assert f"moves its source read from {old_topic} to {new_topic}" in moved and "without its state" in moved
        failure = {**_reading(0, START_MS + 100_000, 230.0), "status": "EQUIPMENT_FAILURE"}
        _produce(local_stack, old_topic, schema_id, [{**failure, "meter_id": "MTR-OLD-TOPIC"}])
        _produce(local_stack, new_topic, schema_id, [{**failure, "meter_id": "MTR-NEW-TOPIC"}])
        alerts = consume(local_stack, spec.outputs.anomalies_topic, expect=METERS + 2, idle=15, timeout=90)
        texts = [json.dumps(event, default=str) for event in decode_avro(local_stack, alerts)]
        assert sum("MTR-NEW-TOPIC" in text for text in texts) == 1, "the new topic's failure is judged"
        assert not any("MTR-OLD-TOPIC" in text for text in texts), "the old topic is no longer read"
    finally:
        job_id = flinkrest.running_job_id(local_stack.flink_url, job_name(pipeline))
        if job_id:
            cancel_quietly(local_stack, job_id)
