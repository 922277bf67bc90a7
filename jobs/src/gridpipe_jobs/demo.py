"""`gridctl demo` and `gridctl alerts`: both example pipelines fed by generators, and a live view of their alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

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


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def _start_generator(cfg: StackConfig, profile: str) -> str:
    pid_file = cfg.run_dir / f"generator-{profile}.pid"
    log = cfg.logs_dir / f"generator-{profile}.log"
    if pid_file.is_file() and _alive(pid_file):
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


def demo(replace: Annotated[bool, typer.Option(help="Restart pipelines that already run.")] = True) -> None:
    """Run both example pipelines on the local stack and feed them from generators in the background."""
    from gridpipe_jobs.cli import run

    cfg = StackConfig.from_env()
    for name in ("grid", "rocket"):
        run(file=EXAMPLES / f"{name}.yaml", replace=replace)
    for profile in GENERATORS:
        typer.echo(_start_generator(cfg, profile))
    typer.echo("watch the alerts:  uv run gridctl alerts -f examples/grid.yaml   (or examples/rocket.yaml)")
    typer.echo(f"Flink: {cfg.flink_url}   Prometheus: {cfg.prometheus_url}   logs: {cfg.logs_dir}")


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
