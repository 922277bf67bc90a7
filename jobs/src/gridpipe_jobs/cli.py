"""`gridctl run` and `gridctl stop`: a GridPipeline on the Flink session cluster of the resolved endpoints."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, NoReturn
from urllib.parse import urlsplit

import httpx
import typer

from gridpipe_jobs import flinkrest
from gridpipe_jobs.functions_jar import FunctionsJarError, functions_jar
from gridpipe_jobs.job import (
    BOOTSTRAP_ENV,
    Endpoints,
    PreparedJob,
    bootstrap_servers,
    job_name,
    offline_wiring,
    prepare,
    reads_of,
)
from gridpipe_jobs.pipeline_resources import ensure_pipeline_resources
from gridpipe_jobs.sinks import InfluxEndpoint, archive_path
from gridpipe_jobs.sql.topology import job_sql
from gridpipe_jobs.topics import ensure_topics
from gridpipe_schemas.endpoints import ServiceEndpoints, resolve_endpoints
from gridpipe_schemas.errors import GridpipeError
from gridpipe_schemas.pipeline import GridPipeline, PipelineInvalid, load_pipeline, moved_reads, with_env_thresholds
from gridpipe_schemas.registry import RegistryError


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def run_bootstrap_servers(option: str | None, endpoints: ServiceEndpoints, env: Mapping[str, str] | None = None) -> str:
    """The Kafka of `gridctl run`: --bootstrap-servers, else KAFKA_BOOTSTRAP_SERVERS, else the resolved endpoints'."""
    return bootstrap_servers(option, env) or endpoints.kafka_bootstrap


def remote_execution(flink_url: str) -> dict[str, str]:
    """The Flink configuration that submits to the session cluster whose REST API is at ``flink_url``."""
    rest = urlsplit(flink_url)
    return {"execution.target": "remote", "rest.address": rest.hostname or "", "rest.port": str(rest.port or 8081)}


def _running_job(pipeline: GridPipeline, flink_url: str, replace: bool) -> str | None:
    """The pipeline's running job, which ``replace`` allows this run to take the place of; None if none runs."""
    running = flinkrest.running_job_id(flink_url, job_name(pipeline))
    if running is not None and not replace:
        _fail(
            f"{job_name(pipeline)} already runs as Flink job {running} -- fix: add --replace to restart it "
            f"with this definition, or `gridctl stop {pipeline.metadata.name}`"
        )
    return running


def _stop_running(pipeline: GridPipeline, flink_url: str, running: str, discard_state: bool) -> str | None:
    """Stop the running job whose place the pipeline's new job takes; return the savepoint the new job restores.

    As the operator does on Kubernetes, the running job stops with a savepoint and the new one restores it (z-score
    windows, Kafka positions, the archive's progress), unless the spec moved one of its restored reads to another
    topic (``moved_reads``) or ``discard_state``: then the job is cancelled and the new one starts afresh."""
    why = _why_without_state(pipeline, reads_of(flinkrest.job_parameters(flink_url, running)), discard_state)
    if why:
        flinkrest.cancel_and_wait(flink_url, running)
        typer.echo(f"cancelled the previous job {running}; the new job starts without its state: {why}")
        return None
    try:
        savepoint = flinkrest.stop_with_savepoint(flink_url, running, _savepoints_of(pipeline, flink_url), timeout=120)
    except (GridpipeError, httpx.HTTPStatusError) as error:
        cause = error.cause if isinstance(error, GridpipeError) else f"stopping job {running} failed: {error}"
        _fail(
            f"{cause} -- fix: see its exceptions in the Flink UI ({flink_url}/#/job/running/{running}/exceptions) "
            "and try again once it runs, or add --discard-state to cancel it and start without its state"
        )
    typer.echo(f"stopped the previous job {running} with a savepoint; the new job restores its state from {savepoint}")
    return savepoint


def _start(job: PreparedJob, flink_url: str, restore_from: str | None) -> str:
    """Submit the prepared job, restoring the savepoint ``restore_from`` if given; return its id once it runs."""
    try:
        job_id = job.execute({"execution.state-recovery.path": restore_from} if restore_from else {})
        flinkrest.wait_for_state(flink_url, job_id, "RUNNING", timeout=120)
    except GridpipeError as error:
        if restore_from:
            _fail(
                f"{error.cause}; it was to restore the previous job's savepoint {restore_from} -- fix: "
                f"{error.fix}, or run again with --replace --discard-state to start without that state"
            )
        raise
    return job_id


def _savepoints_of(pipeline: GridPipeline, flink_url: str) -> str | None:
    """Where `--replace` keeps the pipeline's savepoints: its own folder in the cluster's savepoint directory (None:
    the cluster has none, and the stop names the problem)."""
    directory = flinkrest.cluster_setting(flink_url, "execution.checkpointing.savepoint-dir")
    return f"{directory.rstrip('/')}/{pipeline.metadata.name}" if directory else None


def _prune_savepoints(restored: str) -> None:
    """Delete the pipeline's earlier savepoints beside ``restored`` once a job runs from it: a job restores a
    savepoint without claiming it, so only the newest is of use (12 MB each for the grid example's 10,000 meters).
    Only where the savepoints are local files; elsewhere they are the store's to expire."""
    location = urlsplit(restored)
    if location.scheme != "file":
        return
    newest = Path(location.path)
    for earlier in newest.parent.glob("savepoint-*"):
        if earlier != newest and earlier.is_dir():
            shutil.rmtree(earlier, ignore_errors=True)


def _why_without_state(pipeline: GridPipeline, reads: dict[str, str] | None, discard_state: bool) -> str | None:
    """Why the new job must not restore the running job's state, whose restored reads are ``reads``; None if it may."""
    if discard_state:
        return "as asked (--discard-state)"
    if reads is None:
        return "it does not say which topics it reads (made by an earlier gridctl)"
    moved = moved_reads(reads, pipeline)
    if moved:
        each = ", ".join(f"{read} read from {old} to {new}" for read, (old, new) in moved.items())
        return f"this spec moves its {each} (a restored Kafka source would go on reading the old topic)"
    return None


def _report(pipeline: GridPipeline, job_id: str, bootstrap: str, endpoints: ServiceEndpoints) -> None:
    spec = pipeline.spec
    typer.echo(
        f"{job_name(pipeline)} runs as Flink job {job_id}: {endpoints.flink_url}/#/job/running/{job_id}/overview"
    )
    typer.echo(
        f"reading {spec.source.topic} from Kafka at {bootstrap}; anomalies -> {spec.outputs.anomalies_topic}, "
        f"dead letters -> {spec.outputs.dead_letter_topic}"
    )
    if spec.sinks.influxdb.enabled:
        typer.echo(f"anomalies also -> InfluxDB bucket {spec.sinks.influxdb.bucket} at {endpoints.influxdb.url}")
    if spec.sinks.archive.enabled:
        typer.echo(
            f"events and anomalies archived -> {archive_path(pipeline, '<dataset>')} "
            f"(query: gridctl archive query {pipeline.metadata.name} -q counts-per-day)"
        )


def run(
    file: Annotated[Path, typer.Option("-f", "--file", help="GridPipeline YAML, e.g. examples/grid.yaml.")],
    replace: Annotated[
        bool,
        typer.Option(help="Take the place of the pipeline's running job, keeping its state through a savepoint."),
    ] = False,
    discard_state: Annotated[
        bool,
        typer.Option("--discard-state", help="With --replace: cancel the running job and start without its state."),
    ] = False,
    brokers: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers", help=f"Kafka brokers [default: ${BOOTSTRAP_ENV}, else the local stack's Kafka]"
        ),
    ] = None,
) -> None:
    """Validate a GridPipeline and run its job on the local Flink cluster."""
    try:
        endpoints = resolve_endpoints()
        bootstrap = run_bootstrap_servers(brokers, endpoints)
        pipeline = with_env_thresholds(load_pipeline(file), os.environ)
        created = ensure_topics(pipeline, bootstrap)
        if created:
            typer.echo(f"created topics: {', '.join(created)}")
        ensure_pipeline_resources(pipeline, endpoints, typer.echo)
        functions_jar()
        flink_url = endpoints.flink_url
        running = _running_job(pipeline, flink_url, replace)
        typer.echo(f"{file}: valid; planning {job_name(pipeline)}…")
        influxdb = InfluxEndpoint.for_endpoints(endpoints, os.environ)
        job = prepare(pipeline, Endpoints(bootstrap, endpoints.registry_url, influxdb), remote_execution(flink_url))
        restore_from = None
        if running is not None:
            job.warm()  # while the running job still runs: what is left to do once it stops is the shorter
            typer.echo(f"planned; now stopping the running job {running} (it runs until then)…")
            restore_from = _stop_running(pipeline, flink_url, running, discard_state)
        stopped = time.monotonic()
        typer.echo(f"submitting {job_name(pipeline)} to Flink at {flink_url}…")
        job_id = _start(job, flink_url, restore_from)
        took = flinkrest.wait_for_tasks_running(flink_url, job_id, timeout=120)
        if restore_from:
            _prune_savepoints(restore_from)
        without_job = f"; the pipeline was without a job for {time.monotonic() - stopped:.1f}s" if running else ""
        typer.echo(
            f"every task of {job_name(pipeline)} is running ({took:.1f}s after the job was scheduled{without_job})"
        )
    except PipelineInvalid as invalid:
        typer.echo(f"error: {invalid}", err=True)
        raise typer.Exit(2) from invalid
    except (RegistryError, FunctionsJarError, GridpipeError) as error:
        _fail(str(error))
    _report(pipeline, job_id, bootstrap, endpoints)


def stop(name: Annotated[str, typer.Argument(help="The pipeline's metadata.name.")]) -> None:
    """Cancel a pipeline's job on the local Flink cluster."""
    flink_url = resolve_endpoints().flink_url
    running = flinkrest.running_job_id(flink_url, f"gridpipe-{name}")
    if running is None:
        _fail(f"no running job for pipeline {name} -- fix: see `{flink_url}/#/overview` for what runs")
    flinkrest.cancel_and_wait(flink_url, running)
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
        pipeline = with_env_thresholds(load_pipeline(file), os.environ)
    except PipelineInvalid as invalid:
        typer.echo(f"error: {invalid}", err=True)
        raise typer.Exit(2) from invalid
    statements = job_sql(pipeline, offline_wiring(pipeline, Endpoints(brokers, registry_url)))
    typer.echo(f"-- {job_name(pipeline)}, generated from {file}. Schema ids are 0: `gridctl run` registers them.\n")
    typer.echo(";\n\n".join([*statements.ddl, *statements.inserts]) + ";")
