"""`gridctl run` ensures a pipeline's schemas, InfluxDB bucket and archive location like the operator does, and the
InfluxDB token reaches the TaskManager through its environment only: never the job graph, the job's configuration or
a log file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import yaml
from pyarrow import fs
from typer.testing import CliRunner

from gridpipe_generator.run import Generator, GeneratorConfig
from gridpipe_jobs import cli, flinkrest
from gridpipe_jobs.job import job_name
from gridpipe_jobs.pipeline_resources import ensure_archive_location, ensure_influxdb_bucket
from gridpipe_schemas.errors import GridpipeError
from gridpipe_schemas.pipeline import GridPipeline, parse_pipeline
from gridpipe_schemas.resources import InfluxBuckets, InfluxConnection
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack import credentials
from gridpipe_stack.config import Ports, StackConfig
from gridpipe_stack.endpoints import stack_endpoints
from jobtesting import grid_document, unique
from sinktesting import archive_rows, influx_alerts, s3_access, wait_until

NOW_MS = int(time.time() * 1000) - 600_000  # inside the new bucket's 48 h retention


def _gridctl() -> typer.Typer:
    app = typer.Typer()
    app.command("run")(cli.run)
    app.command("stop")(cli.stop)
    return app


def _contains(path: Path, needle: bytes) -> bool:
    try:
        return needle in path.read_bytes()
    except FileNotFoundError:  # Flink's temporary files come and go
        return False


def _pipeline(name: str) -> tuple[dict[str, Any], GridPipeline]:
    document = grid_document(name)
    document["spec"]["sinks"] = {
        "influxdb": {"enabled": True, "bucket": f"{name}-alerts", "retention": "48h"},
        "archive": {
            "enabled": True,
            "bucket": f"{name}-lake",
            "prefix": "grid",
            "rolloverSizeMb": 8,
            "rolloverInterval": "10s",
        },
    }
    return document, parse_pipeline(document)


@pytest.mark.integration
def test_gridctl_run_ensures_resources_and_keeps_the_influxdb_token_out(
    local_stack: StackConfig, tmp_path: Path
) -> None:
    name = unique("localres")
    document, pipeline = _pipeline(name)
    sinks = pipeline.spec.sinks
    file = tmp_path / "pipeline.yaml"
    file.write_text(yaml.safe_dump(document))
    env = {
        "GRIDPIPE_STACK": local_stack.name,
        "GRIDPIPE_PORT_BASE": str(local_stack.ports.base),
        "GRIDPIPE_RUN_DIR": str(local_stack.run_dir),
    }
    result = CliRunner().invoke(_gridctl(), ["run", "-f", str(file)], env=env)
    job_id = flinkrest.running_job_id(local_stack.flink_url, job_name(pipeline))
    try:
        assert result.exit_code == 0, result.output
        assert "subjects in the registry" in result.output
        assert f"InfluxDB bucket {sinks.influxdb.bucket} (retention 48h) at {local_stack.influxdb_url}: created" in (
            result.output
        )
        assert f"archive location s3://{sinks.archive.bucket}/grid at {local_stack.s3_endpoint}: created" in (
            result.output
        )
        assert job_id is not None
        stored = credentials.influxdb(local_stack)
        with InfluxBuckets(InfluxConnection(stored.url, stored.org, stored.token)) as influx:
            bucket = influx.find(sinks.influxdb.bucket)
        assert bucket is not None and [r["everySeconds"] for r in bucket["retentionRules"]] == [48 * 3600]

        config = GeneratorConfig(
            PipelineKind.GRID,
            local_stack.kafka_bootstrap,
            local_stack.registry_url,
            pipeline.spec.source.topic,
            event_rate=0,
            count=3000,
            meters=20,
            seed=7,
            start_ms=NOW_MS,
            anomaly_rate=0.02,
            malformed_rate=0.0,
            partitions=2,
        )
        assert Generator(config, progress=lambda _: None).run().sent == config.count
        wait_until(
            "an alert in the new InfluxDB bucket", lambda: influx_alerts(local_stack, pipeline), bool, timeout=45
        )
        wait_until(
            "archived readings under the new bucket",
            lambda: archive_rows(local_stack, pipeline, "readings"),
            lambda rows: rows > 0,
            timeout=45,
        )
        files = (
            s3_access(local_stack)
            .filesystem()
            .get_file_info(fs.FileSelector(f"{sinks.archive.bucket}/grid/{name}/readings", recursive=True))
        )
        assert any(f.type == fs.FileType.File and f.base_name.startswith("part-") for f in files)

        token = stored.token
        for endpoint in ("plan", "config"):
            answer = httpx.get(f"{local_stack.flink_url}/jobs/{job_id}/{endpoint}", timeout=10)
            assert answer.status_code == 200 and token not in answer.text, f"the token is in /jobs/<id>/{endpoint}"
        # Every log file, and Flink's own files (its archived execution graphs, blobs, checkpoints).
        files_to_scan = [
            p for d in (local_stack.logs_dir, local_stack.data_dir / "flink") for p in d.rglob("*") if p.is_file()
        ]
        assert any(p.suffix == ".log" for p in files_to_scan), f"no log files under {local_stack.logs_dir}"
        leaking = [str(p) for p in files_to_scan if _contains(p, token.encode())]
        assert not leaking, f"the InfluxDB token is in {leaking}"
        assert (local_stack.run_dir / "supervisord.conf").stat().st_mode & 0o777 == 0o600
    finally:
        if job_id:
            flinkrest.cancel(local_stack.flink_url, job_id)


@pytest.mark.unit
def test_unreachable_services_fail_in_one_line_with_the_fix(tmp_path: Path) -> None:
    nowhere = StackConfig(name="nowhere", ports=Ports(31700), run_dir=tmp_path)  # nothing listens on these ports
    _, pipeline = _pipeline("offline")
    for ensure in (ensure_influxdb_bucket, ensure_archive_location):
        with pytest.raises(GridpipeError) as caught:
            ensure(pipeline, stack_endpoints(nowhere))
        message = str(caught.value)
        assert "\n" not in message and "-- fix: start the stack with `gridctl stack up`" in message, message
        assert credentials.influxdb(nowhere).token not in message
