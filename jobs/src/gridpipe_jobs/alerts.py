"""`gridctl alerts`: a pipeline's alerts, live, one line each."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gridpipe_schemas.catalog import avro
from gridpipe_schemas.endpoints import resolve_endpoints
from gridpipe_schemas.pipeline import GridPipeline, PipelineInvalid, load_pipeline


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
    endpoints = resolve_endpoints()
    topic = pipeline.spec.outputs.anomalies_topic
    consumer = Consumer(
        {
            "bootstrap.servers": endpoints.kafka_bootstrap,
            "group.id": f"gridctl-alerts-{time.time_ns()}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    consumer.subscribe([topic])
    decode: Any = _decoder(endpoints.registry_url, topic) if pipeline.spec.profile == "grid" else json.loads
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


def _decoder(registry_url: str, topic: str) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    # Read every version with today's schema: alerts written before a rename then carry the new names too.
    reader = avro("AnomalyEvent").text
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}), reader)
    context = SerializationContext(topic, MessageField.VALUE)
    return lambda value: deserialize(value, context)
