"""`gridctl run` and `gridctl stop`: a GridPipeline on the local Flink session cluster."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from gridpipe_jobs.functions_jar import FunctionsJarError, functions_jar
from gridpipe_jobs.job import BOOTSTRAP_ENV, Endpoints, bootstrap_servers, job_name, offline_wiring, submit
from gridpipe_jobs.sinks import InfluxEndpoint, archive_path
from gridpipe_jobs.sql.topology import job_sql
from gridpipe_jobs.stackresources import ensure_local_resources
from gridpipe_jobs.topics import ensure_topics
from gridpipe_schemas.pipeline import PipelineInvalid, load_pipeline, with_env_thresholds
from gridpipe_schemas.registry import RegistryError
from gridpipe_stack import flinksql
from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.errors import StackError


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def run_bootstrap_servers(option: str | None, stack: StackConfig, env: Mapping[str, str] | None = None) -> str:
    """The Kafka of `gridctl run`: --bootstrap-servers, else KAFKA_BOOTSTRAP_SERVERS, else the local stack's."""
    return bootstrap_servers(option, env) or stack.kafka_bootstrap


def run(
    file: Annotated[Path, typer.Option("-f", "--file", help="GridPipeline YAML, e.g. examples/grid.yaml.")],
    replace: Annotated[bool, typer.Option(help="Cancel a running job of the same pipeline first.")] = False,
    brokers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers", help=f"Kafka brokers [default: ${BOOTSTRAP_ENV}, else the local stack's Kafka]"
        ),
    ] = None,
) -> None:
    """Validate a GridPipeline and run its job on the local Flink cluster."""
    cfg = StackConfig.from_env()
    bootstrap = run_bootstrap_servers(brokers, cfg)
    try:
        pipeline = with_env_thresholds(load_pipeline(file))
        created = ensure_topics(pipeline, bootstrap)
        if created:
            typer.echo(f"created topics: {', '.join(created)}")
        ensure_local_resources(pipeline, cfg, typer.echo)
        running = flinksql.running_job_id(cfg, job_name(pipeline))
        if running and not replace:
            _fail(
                f"{job_name(pipeline)} already runs as Flink job {running} -- fix: add --replace to restart it "
                f"with this definition, or `gridctl stop {pipeline.metadata.name}`"
            )
        if running:
            flinksql.cancel(cfg, running)
            flinksql.wait_for_state(cfg, running, "CANCELED", timeout=60)
            typer.echo(f"cancelled the previous job {running}")
        functions_jar()
        typer.echo(f"{file}: valid; submitting {job_name(pipeline)} to Flink at {cfg.flink_url}…")
        job_id = submit(
            pipeline,
            Endpoints(bootstrap, cfg.registry_url, InfluxEndpoint.for_local_stack(cfg)),
            {"execution.target": "remote", "rest.address": HOST, "rest.port": str(cfg.ports.flink_rest)},
        )
        flinksql.wait_for_state(cfg, job_id, "RUNNING", timeout=120)
    except PipelineInvalid as invalid:
        typer.echo(f"error: {invalid}", err=True)
        raise typer.Exit(2) from invalid
    except (RegistryError, FunctionsJarError, StackError) as error:
        _fail(str(error))
    spec = pipeline.spec
    typer.echo(f"{job_name(pipeline)} runs as Flink job {job_id}: {cfg.flink_url}/#/job/running/{job_id}/overview")
    typer.echo(
        f"reading {spec.source.topic} from Kafka at {bootstrap}; anomalies -> {spec.outputs.anomalies_topic}, "
        f"dead letters -> {spec.outputs.dead_letter_topic}"
    )
    if spec.sinks.influxdb.enabled:
        typer.echo(f"anomalies also -> InfluxDB bucket {spec.sinks.influxdb.bucket} at {cfg.influxdb_url}")
    if spec.sinks.archive.enabled:
        typer.echo(
            f"events and anomalies archived -> {archive_path(pipeline, '<dataset>')} "
            f"(query: gridctl archive query {pipeline.metadata.name} -q counts-per-day)"
        )


def stop(name: Annotated[str, typer.Argument(help="The pipeline's metadata.name.")]) -> None:
    """Cancel a pipeline's job on the local Flink cluster."""
    cfg = StackConfig.from_env()
    running = flinksql.running_job_id(cfg, f"gridpipe-{name}")
    if running is None:
        _fail(f"no running job for pipeline {name} -- fix: see `{cfg.flink_url}/#/overview` for what runs")
        return
    flinksql.cancel(cfg, running)
    flinksql.wait_for_state(cfg, running, "CANCELED", timeout=60)
    typer.echo(f"stopped gridpipe-{name} (Flink job {running})")


def pipeline_sql(
    file: Annotated[Path, typer.Option("-f", "--file", help="GridPipeline YAML, e.g. examples/grid.yaml.")],
    brokers: Annotated[str, typer.Option("--bootstrap-servers", help="Kafka brokers to write into the SQL.")] = (
        "localhost:9092"
    ),
    registry_url: Annotated[
        str, typer.Option("--schema-registry-url", help="Schema registry to write into the SQL.")
    ] = "http://localhost:8080/apis/ccompat/v7",
) -> None:
    """Print the Flink SQL of a GridPipeline's job, offline: nothing is registered or contacted (schema ids are 0)."""
    try:
        pipeline = with_env_thresholds(load_pipeline(file))
    except PipelineInvalid as invalid:
        typer.echo(f"error: {invalid}", err=True)
        raise typer.Exit(2) from invalid
    statements = job_sql(pipeline, offline_wiring(pipeline, Endpoints(brokers, registry_url)))
    typer.echo(f"-- {job_name(pipeline)}, generated from {file}. Schema ids are 0: `gridctl run` registers them.\n")
    typer.echo(";\n\n".join([*statements.ddl, *statements.inserts]) + ";")
