"""`gridctl pipeline sql -f FILE`: the job's SQL printed offline, through the command and through the gridctl host."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gridpipe_jobs.cli import pipeline_sql
from gridpipe_jobs.job import Endpoints, offline_wiring
from gridpipe_jobs.sql.topology import job_sql
from gridpipe_schemas import resources
from gridpipe_schemas.pipeline import load_pipeline

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("example", ["grid.yaml", "rocket.yaml"])
def test_prints_every_statement_of_the_job_without_a_registry(example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_registry(*args: object, **kwargs: object) -> None:
        raise AssertionError("pipeline sql must not register schemas")

    monkeypatch.setattr(resources, "register_schemas", no_registry)
    monkeypatch.setattr(time, "time", lambda: 1_767_225_600.0)  # when the job is made: the archive reads from then
    app = typer.Typer()
    app.command()(pipeline_sql)
    path = ROOT / "examples" / example
    done = CliRunner().invoke(app, ["-f", str(path), "--bootstrap-servers", "kafka:9092"])
    assert done.exit_code == 0, done.output
    header, body = done.output.split("\n\n", 1)
    pipeline = load_pipeline(path)
    assert header.startswith(f"-- gridpipe-{pipeline.metadata.name}, generated from {path}. Schema ids are 0")
    expected = job_sql(
        pipeline, offline_wiring(pipeline, Endpoints("kafka:9092", "http://localhost:8080/apis/ccompat/v7"))
    )
    assert body == ";\n\n".join([*expected.ddl, *expected.inserts]) + ";\n"
    assert "'properties.bootstrap.servers' = 'kafka:9092'" in body and "'schema-id' = '0'" in body


def test_an_invalid_pipeline_is_refused_with_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "examples" / "grid.yaml").read_text().replace("threshold: 2.5", "threshold: 9"))
    app = typer.Typer()
    app.command()(pipeline_sql)
    done = CliRunner().invoke(app, ["-f", str(bad)])
    assert done.exit_code == 2 and "spec.detection.zscore.threshold" in done.output


def test_gridctl_hosts_it_in_the_pipeline_group() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gridpipe_cli", "pipeline", "sql", "-f", str(ROOT / "examples" / "rocket.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("-- gridpipe-rocket-demo, generated from")
    assert "CREATE TEMPORARY VIEW alerts AS\nSELECT\n" in done.stdout
