"""`gridctl warmup`: run a throwaway grid pipeline through a burst of readings, so that a TaskManager and a broker
that have just started have compiled the alert path before real readings meet it.

Why: Java 17 keeps no compiled code between JVMs. On two cores a new TaskManager's JIT takes more than a core for
about a minute, and in that minute alerts come seconds late (docs/performance.md, "Cold start"). What one job
compiles stays compiled for the next in the same TaskManager wherever the code is shared: Flink's runtime and
network stack, the Kafka connector, the Parquet and S3 writers (all loaded from the TaskManager's lib/ and
plugins/), and the JDK (its HTTP client: the InfluxDB writer). Only the job's own functions jar is loaded again
per job. The warm-up pipeline is the grid example's (both sinks on) under its own name, topics and InfluxDB
bucket, and everything it wrote to Kafka and S3 is deleted afterwards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from gridpipe_generator.run import Generator, GeneratorConfig, GeneratorError
from gridpipe_jobs import flinkrest
from gridpipe_jobs.cli import remote_execution
from gridpipe_jobs.functions_jar import FunctionsJarError
from gridpipe_jobs.job import Endpoints, submit
from gridpipe_jobs.pipeline_resources import ensure_pipeline_resources
from gridpipe_jobs.sinks import InfluxEndpoint
from gridpipe_jobs.topics import SourceProgress, ensure_topics, wanted_topics
from gridpipe_schemas import resources
from gridpipe_schemas.endpoints import ServiceEndpoints, resolve_endpoints
from gridpipe_schemas.errors import GridpipeError
from gridpipe_schemas.pipeline import GridPipeline, parse_pipeline
from gridpipe_schemas.registry import RegistryError
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_schemas.topics import delete_topics

NAME = "warmup"
PREFIX = "gridpipe-warmup"  # of its topics and InfluxDB bucket
# Not "gridpipe-<name>": the Prometheus rules take such jobs for pipelines, and a cancelled one for a stopped pipeline
# (GridpipeJobNotRunning would fire for an hour after every `make up`).
JOB_NAME = "gridctl-warmup"
DEFAULT_EVENTS = 300_000
# 150 readings per meter: past the z-score's 30 minimum samples, so z-score alerts flow through the sinks too.
METERS = 2_000
TOTAL_TIMEOUT_S = 600.0


def warmup_pipeline() -> GridPipeline:
    """The grid example's detection and sinks under the warm-up's own name, topics and InfluxDB bucket."""
    return parse_pipeline(
        {
            "apiVersion": "gridpipe.io/v1alpha1",
            "kind": "GridPipeline",
            "metadata": {"name": NAME},
            "spec": {
                "profile": "grid",
                "source": {"topic": f"{PREFIX}-readings", "startFrom": "earliest", "partitions": 3},
                "outputs": {
                    "anomaliesTopic": f"{PREFIX}-anomalies",
                    "deadLetterTopic": f"{PREFIX}-dlq",
                    "partitions": 3,
                    "retention": "1h",
                },
                "detection": {
                    "zscore": {"fields": ["voltage"], "threshold": 2.5, "minSamples": 30},
                    "equipmentFailure": {"enabled": True},
                },
                "sinks": {
                    "influxdb": {"enabled": True, "bucket": PREFIX, "retention": "1h"},
                    "archive": {"enabled": True, "bucket": "gridpipe-archive"},
                },
                # Checkpoints every 2 s: the archive's upload path runs several times in a short warm-up.
                "flink": {"parallelism": 1, "checkpointInterval": "2s"},
            },
        }
    )


def _fill(pipeline: GridPipeline, endpoints: ServiceEndpoints, events: int, echo: Callable[[str], None]) -> None:
    fill = GeneratorConfig(
        PipelineKind.GRID,
        endpoints.kafka_bootstrap,
        endpoints.registry_url,
        pipeline.spec.source.topic,
        event_rate=0,  # as fast as it goes
        count=events,
        meters=METERS,
        anomaly_rate=0.003,
        malformed_rate=0.001,  # the dead-letter path too
        seed=1,
        partitions=pipeline.spec.source.partitions,
    )
    summary = Generator(fill, progress=echo).run()
    if summary.failed:
        raise GridpipeError(
            f"{summary.failed:,} of {events:,} warm-up readings were not delivered to Kafka",
            "check the broker (gridctl stack status, gridctl stack logs kafka) and run `gridctl warmup` again",
        )


def _remove_data(pipeline: GridPipeline, endpoints: ServiceEndpoints) -> None:
    """The warm-up's topics and archive files; its InfluxDB points expire with the bucket's 1 h retention."""
    delete_topics(endpoints.kafka_bootstrap, sorted(wanted_topics(pipeline)))
    archive, s3 = pipeline.spec.sinks.archive, endpoints.s3
    filesystem = resources.s3_filesystem(resources.S3Connection(s3.endpoint, s3.access_key, s3.secret_key, s3.region))
    resources.delete_s3_prefix(filesystem, archive.bucket, resources.archive_pipeline_prefix(archive.prefix, NAME))


def warm_up(events: int = DEFAULT_EVENTS, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the warm-up pipeline through ``events`` readings on the resolved Flink cluster, then remove it and its
    data. Returns how long each step took."""
    endpoints = resolve_endpoints()
    pipeline = warmup_pipeline()
    flink_url = endpoints.flink_url
    if leftover := flinkrest.running_job_id(flink_url, JOB_NAME):
        flinkrest.cancel_and_wait(flink_url, leftover)  # an earlier warm-up that was interrupted
    _remove_data(pipeline, endpoints)
    ensure_topics(pipeline, endpoints.kafka_bootstrap)
    ensure_pipeline_resources(pipeline, endpoints, lambda _line: None)
    began = time.monotonic()
    echo(f"warm-up: writing {events:,} readings of {METERS:,} meters to {pipeline.spec.source.topic}…")
    _fill(pipeline, endpoints, events, echo)
    filled = time.monotonic()
    echo(f"warm-up: submitting {JOB_NAME} (grid detection, InfluxDB and the archive on)…")
    influx = InfluxEndpoint.for_endpoints(endpoints, os.environ)
    job_id = submit(
        pipeline,
        Endpoints(endpoints.kafka_bootstrap, endpoints.registry_url, influx),
        {**remote_execution(flink_url), "pipeline.name": JOB_NAME},
    )
    try:
        flinkrest.wait_for_state(flink_url, job_id, "RUNNING", timeout=120)
        flinkrest.wait_for_tasks_running(flink_url, job_id, timeout=120)
        started = time.monotonic()
        replay_s = _wait_until_checkpointed(pipeline, endpoints.kafka_bootstrap, flink_url, job_id, echo)
    finally:
        flinkrest.cancel_and_wait(flink_url, job_id)
        _remove_data(pipeline, endpoints)
    return {
        "fill_s": round(filled - began, 1),
        "submit_s": round(started - filled, 1),
        "replay_s": round(replay_s, 1),
        "total_s": round(time.monotonic() - began, 1),
    }


def _wait_until_checkpointed(
    pipeline: GridPipeline, bootstrap: str, flink_url: str, job_id: str, echo: Callable[[str], None]
) -> float:
    """Wait until both readers of the source topic (the alert path's group and the archive's) have committed every
    record of it, which the job does when a checkpoint completes; return the seconds it took. Kafka's committed
    offsets, not Flink's metrics, are the signal: they say the records were read and checkpointed, whatever state the
    JobManager's metric store is in. Fails after a minute without progress, or after TOTAL_TIMEOUT_S."""
    with SourceProgress(pipeline, bootstrap) as progress:
        began = last_report = last_move = time.monotonic()
        total, committed = progress.read()
        while min(committed.values()) < total:
            time.sleep(1)
            now, previous = time.monotonic(), committed
            total, committed = progress.read()
            if committed != previous:
                last_move = now
            elif now - last_move > 60 or now - began > TOTAL_TIMEOUT_S:
                raise GridpipeError(
                    f"the warm-up job {job_id} checkpointed nothing for {now - last_move:.0f}s ({committed} of "
                    f"{total:,} records committed); its latest exception: "
                    f"{flinkrest.latest_exception(flink_url, job_id)}",
                    f"open {flink_url}/#/job/running/{job_id}/exceptions or read the TaskManager log "
                    "(gridctl stack logs flink-taskmanager)",
                )
            if now - last_report >= 5:
                least = min(committed.values())
                echo(f"… {least:,} of {total:,} records read and checkpointed, {least / (now - began):,.0f}/s")
                last_report = now
        return time.monotonic() - began


def warmup(
    events: Annotated[
        int, typer.Option(min=10_000, help="Readings to run through the warm-up pipeline.")
    ] = DEFAULT_EVENTS,
) -> None:
    """Warm a TaskManager and broker that have just started: run a throwaway grid pipeline (both sinks on) through a
    burst of readings, then remove it and its data. `make up` runs it after `gridctl stack up`."""
    try:
        took = warm_up(events, typer.echo)
    except (GeneratorError, RegistryError, FunctionsJarError) as error:  # each names the problem and the fix
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error
    typer.echo(
        f"warm-up done in {took['total_s']:.0f}s: {events:,} readings written in {took['fill_s']:.0f}s, "
        f"the job's tasks running {took['submit_s']:.0f}s later, the readings replayed in {took['replay_s']:.0f}s"
    )
