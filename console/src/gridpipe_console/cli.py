"""`gridctl console`: the web console for the pipelines of the files given."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from gridpipe_console.settings import (
    BOOTSTRAP_ENV,
    DEFAULT_PORT,
    TOKEN_FILE_ENV,
    ConsoleSettings,
    KubernetesSource,
    Pipelines,
    pipelines_from,
    read_token,
    retention_hours,
)
from gridpipe_schemas.endpoints import InfluxSettings, ServiceEndpoints, resolve_endpoints
from gridpipe_schemas.errors import GridpipeError
from gridpipe_schemas.pipeline import PipelineInvalid, load_pipeline

REGISTRY_ENV = "GRIDPIPE_SCHEMA_REGISTRY_URL"
FLINK_ENV = "GRIDPIPE_FLINK_URL"
PROMETHEUS_ENV = "GRIDPIPE_PROMETHEUS_URL"
INFLUX_ENV = ("GRIDPIPE_INFLUXDB_URL", "GRIDPIPE_INFLUXDB_ORG", "GRIDPIPE_INFLUXDB_TOKEN")


def _endpoints(environ: Mapping[str, str]) -> dict[str, Any]:
    """Kafka, registry, Flink, InfluxDB and Prometheus, as ConsoleSettings fields: the environment's where set, else
    the registered resolver's (the local stack's under gridctl)."""
    resolved: ServiceEndpoints | None
    try:
        resolved = resolve_endpoints()
    except GridpipeError:
        resolved = None
    bootstrap = environ.get(BOOTSTRAP_ENV) or (resolved.kafka_bootstrap if resolved else None)
    registry = environ.get(REGISTRY_ENV) or (resolved.registry_url if resolved else None)
    if not bootstrap or not registry:
        raise GridpipeError(
            "the console does not know where Kafka and the schema registry are",
            f"set {BOOTSTRAP_ENV} and {REGISTRY_ENV}, or start the local stack (`gridctl stack up`)",
        )
    flink = environ.get(FLINK_ENV) or (resolved.flink_url if resolved else None)
    url, org, token = (environ.get(name) for name in INFLUX_ENV)
    influx = InfluxSettings(url, org, token) if url and org and token else (resolved.influxdb if resolved else None)
    prometheus = environ.get(PROMETHEUS_ENV) or (resolved.prometheus_url if resolved else None)
    return {
        "kafka_bootstrap": bootstrap,
        "registry_url": registry,
        "flink_url": flink,
        "influxdb": influx,
        "prometheus_url": prometheus,
    }


def settings_from(
    files: list[Path],
    environ: Mapping[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token_file: Path | None = None,
    max_live_rate: int = 50,
    allowed_origins: tuple[str, ...] = (),
    kubernetes: KubernetesSource | None = None,
) -> ConsoleSettings:
    loaded = []
    for file in files:
        try:
            loaded.append(load_pipeline(file))
        except PipelineInvalid as invalid:
            raise GridpipeError(str(invalid), f"fix {file} (`gridctl pipeline validate -f {file}`)") from invalid
    pipelines = () if kubernetes and not files else pipelines_from(loaded, environ)
    token_path = token_file or (Path(environ[TOKEN_FILE_ENV]) if environ.get(TOKEN_FILE_ENV) else None)
    return ConsoleSettings(
        pipelines=Pipelines(pipelines),
        **_endpoints(environ),
        host=host,
        port=port,
        token=read_token(token_path),
        allowed_origins=allowed_origins,
        max_live_rate=max_live_rate,
        retention_hours=retention_hours(environ),
        kubernetes=kubernetes,
    )


def console(
    file: Annotated[
        list[Path] | None, typer.Option("-f", "--file", help="A GridPipeline YAML whose alerts to show; repeatable.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 only behind a token and TLS.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = DEFAULT_PORT,
    token_file: Annotated[
        Path | None,
        typer.Option(
            help=f"File holding the bearer token that protects page, API and WebSocket (or {TOKEN_FILE_ENV})."
        ),
    ] = None,
    max_live_rate: Annotated[
        int, typer.Option(min=1, help="Alerts per second per pipeline sent one by one; beyond it, one summary.")
    ] = 50,
    allowed_origin: Annotated[
        list[str] | None, typer.Option(help="Another origin whose pages may open the WebSocket (a proxy's).")
    ] = None,
    kubernetes: Annotated[
        bool, typer.Option("--kubernetes", help="Follow the GridPipeline resources of a cluster instead of files.")
    ] = False,
    namespace: Annotated[
        str | None, typer.Option(help="With --kubernetes: only this namespace's GridPipelines (default: all).")
    ] = None,
    kubeconfig: Annotated[
        str | None, typer.Option(help="With --kubernetes: a kubeconfig (default: the pod's ServiceAccount).")
    ] = None,
) -> None:
    """Serve the web console: live alerts, history, status and telemetry of the pipelines given."""
    import uvicorn

    from gridpipe_console.app import create_app

    settings = settings_from(
        file or [],
        os.environ,
        host=host,
        port=port,
        token_file=token_file,
        max_live_rate=max_live_rate,
        allowed_origins=tuple(allowed_origin or ()),
        kubernetes=KubernetesSource(namespace, kubeconfig) if kubernetes else None,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    names = ", ".join(p.name for p in settings.pipelines.all()) or "no pipeline yet"
    typer.echo(f"console for {names}: http://{host}:{port}/" + ("  (token required)" if settings.token else ""))
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", ws_max_size=64 * 1024)
