"""`gridctl warmup`, `gridctl demo` and `gridctl alerts` as a newcomer runs them in and after `make up`, and how the
demo is stopped."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gridpipe_cli.demo import GENERATORS, is_generator, stop_generator
from gridpipe_cli.warmup import JOB_NAME, PREFIX, warmup_pipeline
from gridpipe_jobs import flinkrest
from gridpipe_jobs.topics import wanted_topics
from gridpipe_schemas.pipeline import load_pipeline
from gridpipe_stack.config import StackConfig
from gridpipe_stack.supervise import marked_processes
from gridpipe_stack.testing import stack_config
from sinktesting import influx_alerts, s3_access

REPO = Path(__file__).resolve().parents[3]
UV = [uv] if (uv := shutil.which("uv")) else [sys.executable, "-m", "uv"]
# time, severity, type, then the meter or the rocket: what `gridctl alerts` prints per alert.
GRID_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d{3}  (?P<severity>[A-Z]+) +(?P<type>[A-Z_]+) +MTR-\d{6} ")
ROCKET_LINE = re.compile(r"\d\d:\d\d:\d\d\.\d{3}  (?P<severity>[a-z]+) +(?P<type>[a-z_]+) +\S+ \w+=\S+  \(.+\)")


def _sleeper(*argv: str) -> subprocess.Popen[bytes]:
    """A real process that sleeps, leading its own session as the demo's generators do; returned once it sleeps."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; print(flush=True); time.sleep(120)", *argv],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdout is not None and process.stdout.readline() == b"\n"  # its command line is in /proc now
    return process


@pytest.mark.unit
def test_stop_generator_stops_the_recorded_generator(tmp_path: Path) -> None:
    cfg = stack_config("unit", tmp_path, 0)
    generator = _sleeper("gridpipe_generator")
    (tmp_path / "generator-grid.pid").write_text(str(generator.pid))
    try:
        assert is_generator(generator.pid)
        assert stop_generator(cfg, "grid") == "generator (grid) stopped"
        assert generator.wait(timeout=5) == -signal.SIGTERM
        assert not (tmp_path / "generator-grid.pid").exists()
    finally:
        generator.kill()


@pytest.mark.unit
def test_stop_generator_leaves_a_process_that_merely_reuses_the_pid_alone(tmp_path: Path) -> None:
    cfg = stack_config("unit", tmp_path, 0)
    stranger = _sleeper()
    (tmp_path / "generator-grid.pid").write_text(str(stranger.pid))
    (tmp_path / "generator-rocket.pid").write_text("not a pid")
    try:
        assert stop_generator(cfg, "grid") == "generator (grid) was not running"
        assert stop_generator(cfg, "rocket") == "generator (rocket) was not running"
        assert stranger.poll() is None, "a process that is no generator is never signalled"
        assert not list(tmp_path.glob("generator-*.pid"))
    finally:
        stranger.kill()
        stranger.wait(timeout=5)


def _gridctl(stack: StackConfig, *args: str, timeout: float) -> str:
    """`uv run --frozen gridctl ARGS` against the test stack, to its end within ``timeout`` s; its stdout."""
    env = {
        **os.environ,
        "GRIDPIPE_STACK": stack.name,
        "GRIDPIPE_PORT_BASE": str(stack.ports.base),
        "GRIDPIPE_RUN_DIR": str(stack.run_dir),
        "GRIDPIPE_CACHE": str(stack.cache_dir),
    }
    command = [*UV, "run", "--frozen", "gridctl", *args]
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # uv and the gridctl it started
            out, err = process.communicate()
            raise AssertionError(f"gridctl {' '.join(args)} did not end within {timeout:.0f}s:\n{out}{err}") from None
    assert process.returncode == 0, f"gridctl {' '.join(args)} exited {process.returncode}:\n{out}{err}"
    return out


def _alert_lines(stack: StackConfig, example: str, pattern: re.Pattern[str], count: int) -> list[re.Match[str]]:
    """The first ``count`` alerts `gridctl alerts -f examples/<example>.yaml` prints, each parsed by ``pattern``."""
    out = _gridctl(
        stack, "alerts", "-f", f"examples/{example}.yaml", "--count", str(count), "--timeout", "120", timeout=180
    )
    header, *lines = out.splitlines()
    assert header.startswith(f"alerts of {example}-demo from "), out
    assert len(lines) == count, f"{len(lines)} of {count} alerts within 120s:\n{out}"
    matches = [pattern.match(line) for line in lines]
    assert all(matches), out
    return [m for m in matches if m]


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_demo_feeds_both_pipelines_and_alerts_prints_them_until_demo_stop(local_stack: StackConfig) -> None:
    rocket_types = {r.anomaly_type for r in load_pipeline(REPO / "examples" / "rocket.yaml").spec.detection.rules or []}
    try:
        started = _gridctl(local_stack, "demo", timeout=300)
        assert all(f"generator ({profile}) started" in started for profile in GENERATORS), started
        for url in (
            local_stack.prometheus_url,
            local_stack.alertmanager_url,
            f"{local_stack.ports.console}/pipeline-health",
        ):
            assert url in started, f"`gridctl demo` (the end of `make up`) does not print {url}:\n{started}"

        for alert in _alert_lines(local_stack, "grid", GRID_LINE, count=3):
            assert alert["type"] in {"VOLTAGE_SURGE", "VOLTAGE_SAG", "EQUIPMENT_FAILURE"}, alert.string
            assert alert["severity"] in {"INFO", "WARNING", "ERROR", "CRITICAL"}, alert.string
            assert alert["type"] != "EQUIPMENT_FAILURE" or alert["severity"] == "CRITICAL", alert.string
        for alert in _alert_lines(local_stack, "rocket", ROCKET_LINE, count=3):
            assert alert["type"] in rocket_types and alert["severity"] in {"low", "medium", "high", "critical"}
    finally:
        stopped = _gridctl(local_stack, "demo", "--stop", timeout=180)

    for profile in GENERATORS:
        assert f"generator ({profile}) stopped" in stopped and f"stopped gridpipe-{profile}-demo" in stopped, stopped
    assert not [pid for pid in marked_processes(str(local_stack.run_dir)) if is_generator(pid)]
    assert flinkrest.running_job_id(local_stack.flink_url, "gridpipe-grid-demo") is None
    assert flinkrest.running_job_id(local_stack.flink_url, "gridpipe-rocket-demo") is None


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_warmup_runs_a_throwaway_pipeline_through_both_sinks_and_leaves_nothing_behind(
    local_stack: StackConfig,
) -> None:
    from confluent_kafka.admin import AdminClient
    from pyarrow import fs

    pipeline = warmup_pipeline()
    out = _gridctl(local_stack, "warmup", "--events", "20000", timeout=480)
    assert "warm-up done in" in out and "20,000 readings" in out, out
    assert "records read" in out or "replayed in" in out, out  # progress, then the summary

    assert flinkrest.running_job_id(local_stack.flink_url, JOB_NAME) is None
    jobs = httpx.get(f"{local_stack.flink_url}/jobs/overview", timeout=10).json()["jobs"]
    assert any(j["name"] == JOB_NAME and j["state"] == "CANCELED" for j in jobs), jobs
    # The alert rules take jobs named gridpipe-<pipeline> for pipelines: a cancelled warm-up must not look like one.
    rules = (REPO / "dashboards" / "rules" / "recording.yml").read_text()
    assert 'job_name=~"gridpipe-.+"' in rules and not re.fullmatch("gridpipe-.+", JOB_NAME)
    topics = AdminClient({"bootstrap.servers": local_stack.kafka_bootstrap}).list_topics(timeout=10).topics
    assert not set(wanted_topics(pipeline)) & set(topics), f"warm-up topics left: {sorted(topics)}"
    archive = f"{pipeline.spec.sinks.archive.bucket}/{pipeline.metadata.name}"
    left = (
        s3_access(local_stack)
        .filesystem()
        .get_file_info(fs.FileSelector(archive, recursive=True, allow_not_found=True))
    )
    # S3 has no folders (SeaweedFS lists an emptied one for a while): what must be gone is every file.
    assert not [f.path for f in left if f.type == fs.FileType.File], "warm-up archive files left"
    # Its alerts went through the InfluxDB writer too, into a bucket of its own that keeps them an hour.
    assert pipeline.spec.sinks.influxdb.bucket == PREFIX
    assert influx_alerts(local_stack, pipeline), "the warm-up wrote no alert to InfluxDB"
