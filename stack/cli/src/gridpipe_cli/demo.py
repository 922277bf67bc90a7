"""`gridctl demo`: both example pipelines on the local stack, fed by generators in the background.

The demo belongs to the local stack: its generators carry the stack's mark, so `gridctl stack down` stops them too,
and get the stack's Kafka and registry on their command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from gridpipe_jobs import flinkrest
from gridpipe_jobs.cli import run
from gridpipe_jobs.job import job_name
from gridpipe_schemas.pipeline import load_pipeline
from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.supervise import MARK_VARIABLE

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"
GENERATORS = {
    "grid": [
        "--profile",
        "grid",
        "--meters",
        "10000",
        "--event-rate",
        "5000",
        "--anomaly-rate",
        "0.0005",
        "--malformed-rate",
        "0.0005",
    ],
    "rocket": [
        "--profile",
        "rocket",
        "--rockets",
        "3",
        "--event-rate",
        "30",
        "--anomaly-rate",
        "0.01",
        "--malformed-rate",
        "0.005",
    ],
}


def is_generator(pid: int) -> bool:
    """Whether ``pid`` is a live generator process: a zombie is gone, and a reused pid is someone else's."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and b"gridpipe_generator" in cmdline.split(b"\0")


def _recorded_generator(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return None
    return pid if is_generator(pid) else None


def _stack_services(cfg: StackConfig) -> list[str]:
    return ["--kafka-bootstrap-servers", cfg.kafka_bootstrap, "--schema-registry-url", cfg.registry_url]


def _start_generator(cfg: StackConfig, profile: str) -> str:
    pid_file = cfg.run_dir / f"generator-{profile}.pid"
    log = cfg.logs_dir / f"generator-{profile}.log"
    if _recorded_generator(pid_file) is not None:
        return f"generator ({profile}) already runs, log {log}"
    env = {**os.environ, MARK_VARIABLE: str(cfg.run_dir)}  # so `gridctl stack down` stops it with the stack
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gridpipe_generator", *GENERATORS[profile], *_stack_services(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
    return f"generator ({profile}) started, log {log}"


def stop_generator(cfg: StackConfig, profile: str, grace: float = 10.0) -> str:
    """Stop the demo's generator of ``profile`` (`end_generator`); say what happened."""
    if end_generator(cfg, profile, grace):
        return f"generator ({profile}) stopped"
    return f"generator ({profile}) was not running"


def end_generator(cfg: StackConfig, profile: str, grace: float = 10.0) -> bool:
    """Stop the demo's generator of ``profile`` (TERM, then KILL after ``grace`` seconds) and forget its pid; return
    whether one was running."""
    pid_file = cfg.run_dir / f"generator-{profile}.pid"
    pid = _recorded_generator(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):  # it may end by itself meanwhile
        os.killpg(pid, signal.SIGTERM)  # it leads its own session (start_new_session), so this is only the generator
        deadline = time.monotonic() + grace
        while is_generator(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_generator(pid):
            os.killpg(pid, signal.SIGKILL)
    return True


def _stop_demo(cfg: StackConfig) -> None:
    for profile in GENERATORS:
        typer.echo(stop_generator(cfg, profile))
    for name in ("grid", "rocket"):
        job = job_name(load_pipeline(EXAMPLES / f"{name}.yaml"))
        running = flinkrest.running_job_id(cfg.flink_url, job)
        if running is None:
            typer.echo(f"{job} was not running")
            continue
        flinkrest.cancel_and_wait(cfg.flink_url, running)
        typer.echo(f"stopped {job} (Flink job {running})")


def demo(
    replace: Annotated[bool, typer.Option(help="Restart pipelines that already run.")] = True,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the demo instead: its generators, then both pipelines' jobs.")
    ] = False,
) -> None:
    """Run both example pipelines on the local stack and feed them from generators in the background."""
    cfg = StackConfig.from_env()
    if stop:
        _stop_demo(cfg)
        return
    for name in ("grid", "rocket"):
        run(file=EXAMPLES / f"{name}.yaml", replace=replace)
    for profile in GENERATORS:
        typer.echo(_start_generator(cfg, profile))
    typer.echo(f"watch the alerts in the console:  http://{HOST}:{cfg.ports.console}/")
    typer.echo("or in the terminal:  uv run gridctl alerts -f examples/grid.yaml   (or examples/rocket.yaml)")
    typer.echo(
        f"pipeline health (the Grafana panels, no Grafana needed):  http://{HOST}:{cfg.ports.console}/pipeline-health"
    )
    typer.echo(
        f"Flink: {cfg.flink_url}   Prometheus: {cfg.prometheus_url}   Alertmanager: {cfg.alertmanager_url}   "
        f"logs: {cfg.logs_dir}"
    )
    typer.echo("stop the demo (the stack keeps running):  uv run gridctl demo --stop")
