"""`gridctl generate` and the standalone `generator` command."""

from __future__ import annotations

import re
import signal
import threading
from typing import Annotated

import typer

from gridpipe_generator.run import Generator, GeneratorConfig, GeneratorError
from gridpipe_schemas.errors import run_with_one_line_errors
from gridpipe_schemas.subjects import DEFAULT_TOPICS, PipelineKind

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float:
    match = _DURATION.match(text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not a duration; write e.g. 30, 30s, 5m or 1h")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _kafka_and_registry(bootstrap: str | None, registry_url: str | None) -> tuple[str, str]:
    """The options where given; the rest from the registered endpoints (the local stack's under gridctl)."""
    if bootstrap and registry_url:
        return bootstrap, registry_url
    from gridpipe_schemas.endpoints import resolve_endpoints

    endpoints = resolve_endpoints()
    return bootstrap or endpoints.kafka_bootstrap, registry_url or endpoints.registry_url


def generate(
    profile: Annotated[
        PipelineKind, typer.Option(help="grid (Avro smart-meter readings) or rocket (JSON telemetry).")
    ] = PipelineKind.GRID,
    event_rate: Annotated[float, typer.Option(min=0, help="Events per second; 0 = as fast as possible.")] = 10_000,
    anomaly_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Fraction of events with injected anomalies.")
    ] = 0.001,
    malformed_rate: Annotated[float, typer.Option(min=0, max=1, help="Fraction of malformed events.")] = 0.0,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (30s, 5m, 1h); default: until Ctrl-C.")
    ] = None,
    count: Annotated[int | None, typer.Option(min=1, help="Stop after this many events.")] = None,
    kafka_bootstrap_servers: Annotated[str | None, typer.Option(help="Default: the local stack's Kafka.")] = None,
    schema_registry_url: Annotated[str | None, typer.Option(help="Default: the local stack's registry.")] = None,
    topic: Annotated[
        str | None, typer.Option(help="Default: sensor-readings (grid), rocket-telemetry (rocket).")
    ] = None,
    meters: Annotated[int, typer.Option(min=1, help="Smart meters simulated (grid).")] = 10_000,
    rockets: Annotated[int, typer.Option(min=1, help="Rockets simulated (rocket).")] = 3,
    seed: Annotated[int, typer.Option(help="Same seed, same flags: the same records.")] = 0,
    start_time_ms: Annotated[int | None, typer.Option(help="Event time of the first record; default: now.")] = None,
    partitions: Annotated[int, typer.Option(min=1, help="Partitions if the topic is created.")] = 3,
    linger_ms: Annotated[float, typer.Option(min=0, help="Producer batching delay.")] = 5.0,
) -> None:
    """Produce realistic, labelled grid or rocket events into Kafka at a held rate."""
    if anomaly_rate + malformed_rate > 1:
        raise typer.BadParameter("--anomaly-rate plus --malformed-rate must not exceed 1")
    seconds = parse_duration(duration) if duration else None
    bootstrap, registry_url = _kafka_and_registry(kafka_bootstrap_servers, schema_registry_url)
    cfg = GeneratorConfig(
        profile=profile,
        bootstrap=bootstrap,
        registry_url=registry_url,
        topic=topic or DEFAULT_TOPICS[profile].readings,
        event_rate=event_rate,
        duration=seconds,
        count=count,
        anomaly_rate=anomaly_rate,
        malformed_rate=malformed_rate,
        meters=meters,
        rockets=rockets,
        seed=seed,
        start_ms=start_time_ms,
        partitions=partitions,
        linger_ms=linger_ms,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        summary = Generator(cfg).run(stop)
    except GeneratorError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    for line in summary.lines():
        typer.echo(line)
    raise typer.Exit(1 if summary.failed else 0)


def main() -> None:
    """Entry point of the standalone `generator` command."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command(name="generator")(generate)
    run_with_one_line_errors(typer.main.get_command(app))
