"""`gridctl demo` and `gridctl alerts`: both example pipelines fed by generators, and a live view of their alerts."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gridpipe_jobs import flinkrest
from gridpipe_jobs.job import job_name
from gridpipe_schemas.catalog import avro
from gridpipe_schemas.pipeline import GridPipeline, PipelineInvalid, load_pipeline
from gridpipe_stack.config import StackConfig
from gridpipe_stack.supervise import MARK_VARIABLE

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
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


def _start_generator(cfg: StackConfig, profile: str) -> str:
    pid_file = cfg.run_dir / f"generator-{profile}.pid"
    log = cfg.logs_dir / f"generator-{profile}.log"
    if _recorded_generator(pid_file) is not None:
        return f"generator ({profile}) already runs, log {log}"
    env = {**os.environ, MARK_VARIABLE: str(cfg.run_dir)}  # so `gridctl stack down` stops it with the stack
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gridpipe_generator", *GENERATORS[profile]],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
    return f"generator ({profile}) started, log {log}"


def stop_generator(cfg: StackConfig, profile: str, grace: float = 10.0) -> str:
    """Stop the demo's generator of ``profile`` (TERM, then KILL after ``grace`` seconds) and forget its pid."""
    pid_file = cfg.run_dir / f"generator-{profile}.pid"
    pid = _recorded_generator(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return f"generator ({profile}) was not running"
    with contextlib.suppress(ProcessLookupError):  # it may end by itself meanwhile
        os.killpg(pid, signal.SIGTERM)  # it leads its own session (start_new_session), so this is only the generator
        deadline = time.monotonic() + grace
        while is_generator(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if is_generator(pid):
            os.killpg(pid, signal.SIGKILL)
    return f"generator ({profile}) stopped"


def _stop_demo(cfg: StackConfig) -> None:
    for profile in GENERATORS:
        typer.echo(stop_generator(cfg, profile))
    for name in ("grid", "rocket"):
        job = job_name(load_pipeline(EXAMPLES / f"{name}.yaml"))
        running = flinkrest.running_job_id(cfg.flink_url, job)
        if running is None:
            typer.echo(f"{job} was not running")
            continue
        flinkrest.cancel(cfg.flink_url, running)
        flinkrest.wait_for_state(cfg.flink_url, running, "CANCELED", timeout=60)
        typer.echo(f"stopped {job} (Flink job {running})")


def demo(
    replace: Annotated[bool, typer.Option(help="Restart pipelines that already run.")] = True,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the demo instead: its generators, then both pipelines' jobs.")
    ] = False,
) -> None:
    """Run both example pipelines on the local stack and feed them from generators in the background."""
    from gridpipe_jobs.cli import run

    cfg = StackConfig.from_env()
    if stop:
        _stop_demo(cfg)
        return
    for name in ("grid", "rocket"):
        run(file=EXAMPLES / f"{name}.yaml", replace=replace)
    for profile in GENERATORS:
        typer.echo(_start_generator(cfg, profile))
    typer.echo("watch the alerts:  uv run gridctl alerts -f examples/grid.yaml   (or examples/rocket.yaml)")
    typer.echo(f"Flink: {cfg.flink_url}   Prometheus: {cfg.prometheus_url}   logs: {cfg.logs_dir}")
    typer.echo("stop the demo (the stack keeps running):  uv run gridctl demo --stop")


def _grid_line(alert: dict[str, Any]) -> str:
    reading = alert["original_event"]
    value = f" {alert['field']}={alert['observed_value']:.2f}" if alert.get("field") else ""
    return (
        f"{reading['timestamp']:%H:%M:%S.%f}"[:-3] + f"  {alert['severity']:<8} {alert['anomaly_type']:<17} "
        f"{reading['meter_id']}{value}  {alert['description']}"
    )


def _rocket_line(alert: dict[str, Any]) -> str:
    return (
        f"{alert['timestamp'][11:23]}  {alert['severity']:<8} {alert['anomalyType']:<23} {alert['rocketId']} "
        f"{alert['affectedParameter']}={alert['currentValue']}  ({alert['expectedRange']})"
    )


def alerts(
    file: Annotated[Path, typer.Option("-f", "--file", help="The pipeline's GridPipeline YAML.")],
    from_beginning: Annotated[bool, typer.Option(help="Show past alerts too.")] = False,
    count: Annotated[int | None, typer.Option(help="Stop after this many alerts.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
) -> None:
    """Print a pipeline's alerts as they arrive."""
    from confluent_kafka import Consumer

    try:
        pipeline: GridPipeline = load_pipeline(file)
    except PipelineInvalid as invalid:
        typer.echo(f"error: {invalid}", err=True)
        raise typer.Exit(2) from invalid
    cfg = StackConfig.from_env()
    topic = pipeline.spec.outputs.anomalies_topic
    consumer = Consumer(
        {
            "bootstrap.servers": cfg.kafka_bootstrap,
            "group.id": f"gridctl-alerts-{time.time_ns()}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    consumer.subscribe([topic])
    decode: Any = _decoder(cfg, topic) if pipeline.spec.profile == "grid" else json.loads
    line = _grid_line if pipeline.spec.profile == "grid" else _rocket_line
    typer.echo(f"alerts of {pipeline.metadata.name} from {topic} (Ctrl-C to stop), {datetime.now(UTC):%H:%M:%S} UTC")
    shown = 0
    deadline = time.monotonic() + timeout if timeout else float("inf")
    try:
        while (count is None or shown < count) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() or message.value() is None:
                continue
            typer.echo(line(decode(message.value())))
            shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _decoder(cfg: StackConfig, topic: str) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    # Read every version with today's schema: alerts written before a rename then carry the new names too.
    reader = avro("AnomalyEvent").text
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": cfg.registry_url}), reader)
    context = SerializationContext(topic, MessageField.VALUE)
    return lambda value: deserialize(value, context)
