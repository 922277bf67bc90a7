"""Helpers for benchmarks that run a pipeline on the dev stack's Flink cluster."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from gridpipe_cli.demo import GENERATORS, end_generator
from gridpipe_generator.run import Generator, GeneratorConfig
from gridpipe_jobs import flinkrest
from gridpipe_jobs.job import Endpoints
from gridpipe_jobs.sinks import InfluxEndpoint
from gridpipe_jobs.topics import ensure_topics
from gridpipe_schemas.pipeline import GridPipeline, parse_pipeline
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_schemas.topics import delete_topics
from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.stack import start_service, stop_service
from jobtesting import grid_document, submit_build


def grid_pipeline(
    name: str,
    *,
    threshold: float = 2.5,
    fields: list[str] | None = None,
    partitions: int = 3,
    sinks: bool = False,
    topic: str | None = None,
    checkpoint_interval: str | None = None,
    parallelism: int = 1,
) -> GridPipeline:
    """A grid pipeline for a benchmark; ``sinks`` switches InfluxDB and the archive on (both are off by default)."""
    document = grid_document(name, fields=fields or ["voltage"], threshold=threshold)
    document["spec"]["source"]["partitions"] = partitions
    if topic is not None:
        document["spec"]["source"]["topic"] = topic
    document["spec"]["flink"] = {"parallelism": parallelism}
    if checkpoint_interval is not None:
        document["spec"]["flink"]["checkpointInterval"] = checkpoint_interval
    if sinks:
        document["spec"]["sinks"] = {"influxdb": {"enabled": True}, "archive": {"enabled": True}}
    return parse_pipeline(document)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def quiet_cluster(stack: StackConfig) -> list[str]:
    """Cancel every running job, and stop the demo's generators (`gridctl demo`), so that a benchmark has the machine
    to itself; return what was stopped."""
    cancelled = [f"demo generator ({profile})" for profile in GENERATORS if end_generator(stack, profile)]
    jobs = httpx.get(f"{stack.flink_url}/jobs/overview", timeout=10).json()["jobs"]
    for job in jobs:
        if job["state"] == "RUNNING":
            flinkrest.cancel(stack.flink_url, job["jid"])
            cancelled.append(job["name"])
    return cancelled


def start(
    stack: StackConfig, pipeline: GridPipeline, functions_jar: str | None = None, checkout: str | None = None
) -> str:
    """Submit the pipeline's job (with another build of the functions jar, or as another checkout of gridpipe makes
    it, if given: ``submit_build``) and wait until its tasks run."""
    ensure_topics(pipeline, stack.kafka_bootstrap)
    endpoints = Endpoints(stack.kafka_bootstrap, stack.registry_url, InfluxEndpoint.from_env(os.environ))
    config = {"execution.target": "remote", "rest.address": HOST, "rest.port": str(stack.ports.flink_rest)}
    job_id = submit_build(pipeline, endpoints, config, functions_jar, checkout)
    flinkrest.wait_for_state(stack.flink_url, job_id, "RUNNING", timeout=120)
    flinkrest.wait_for_tasks_running(stack.flink_url, job_id, timeout=120)
    return job_id


def wait_for_source(stack: StackConfig, job_id: str, events: int, *, stall_timeout: float = 60.0) -> float:
    """Wait until every Kafka source of the job has read ``events`` records; return the seconds waited."""
    return max(wait_for_sources(stack, job_id, events, stall_timeout=stall_timeout).values())


def wait_for_sources(stack: StackConfig, job_id: str, events: int, *, stall_timeout: float = 60.0) -> dict[str, float]:
    """Wait until each Kafka source of the job (the alert path's; the archive's when it is on) has read ``events``
    records, printing progress; return the seconds each took (``flinkrest.wait_for_sources``)."""
    return flinkrest.wait_for_sources(stack.flink_url, job_id, events, echo, stall_timeout=stall_timeout)


def stat_cpu_seconds(stat: Path) -> float:
    """CPU seconds (user + system) in a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pattern: str) -> float:
    """CPU seconds (user + system) used so far by the processes whose command line matches ``pattern``."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    total = 0.0
    for pid in found:
        try:
            total += stat_cpu_seconds(Path(f"/proc/{pid}/stat"))
        except OSError:
            continue
    return total


# What each process's CPU is charged to in the replay benchmarks.
PROCESSES = {
    "taskmanager": "TaskManagerRunner",
    "kafka": "kafka.Kafka",
    "seaweedfs": "weed mini",
    "influxdb": "influxd run",
}


def cpu_snapshot() -> dict[str, float]:
    return {name: cpu_seconds(pattern) for name, pattern in PROCESSES.items()}


def prefill_replay_topic(stack: StackConfig, topic: str, events: int, meters: int, partitions: int = 3) -> int:
    """Fill ``topic`` with the replay benchmarks' grid events (0.1 % anomalies, 0.1 % malformed, seed 1); return how
    many are well-formed."""
    print(f"pre-filling {topic} with {events:,} events from {meters:,} meters…")
    fill = GeneratorConfig(
        PipelineKind.GRID,
        stack.kafka_bootstrap,
        stack.registry_url,
        topic,
        event_rate=0,
        count=events,
        meters=meters,
        anomaly_rate=0.001,
        malformed_rate=0.001,
        seed=1,
        start_ms=1_767_225_600_000,
        partitions=partitions,
    )
    summary = Generator(fill, progress=lambda line: print(line, flush=True)).run()
    return events - sum(summary.malformed.values())


def remove_bench_data(stack: StackConfig, pipelines: list[GridPipeline]) -> None:
    """Delete what a benchmark's pipelines left behind (their topics and archive), so runs do not fill the stack."""
    from gridpipe_jobs.topics import wanted_topics
    from gridpipe_schemas.resources import archive_pipeline_prefix, delete_s3_prefix
    from sinktesting import s3_access

    topics = sorted({name for pipeline in pipelines for name in wanted_topics(pipeline)})
    delete_topics(stack.kafka_bootstrap, topics)
    filesystem = s3_access(stack).filesystem()
    for pipeline in pipelines:
        archive = pipeline.spec.sinks.archive
        if archive.enabled:
            delete_s3_prefix(
                filesystem, archive.bucket, archive_pipeline_prefix(archive.prefix, pipeline.metadata.name)
            )


def echo(line: str) -> None:
    print(line, flush=True)


def restart_taskmanager(stack: StackConfig) -> None:
    """Restart the dev stack's TaskManager and wait until it has registered its slots again."""
    print("restarting the TaskManager…", flush=True)
    stop_service(stack, "flink-taskmanager")
    print(f"flink-taskmanager ready again in {start_service(stack, 'flink-taskmanager', echo=echo):.1f}s", flush=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        overview = httpx.get(f"{stack.flink_url}/overview", timeout=10).json()
        if overview.get("taskmanagers", 0) >= 1 and overview.get("slots-available", 0) >= 1:
            return
        time.sleep(0.5)
    raise TimeoutError("the TaskManager did not register within 120 s -- fix: read `gridctl stack logs`")
