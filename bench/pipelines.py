"""Helpers for benchmarks that run a pipeline on the dev stack's Flink cluster."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from gridpipe_jobs.job import Endpoints, submit
from gridpipe_jobs.testing import grid_document
from gridpipe_jobs.topics import ensure_topics
from gridpipe_schemas.pipeline import GridPipeline, parse_pipeline
from gridpipe_stack import flinksql
from gridpipe_stack.config import HOST, StackConfig


def grid_pipeline(
    name: str, *, threshold: float = 2.5, fields: list[str] | None = None, partitions: int = 3
) -> GridPipeline:
    document = grid_document(name, fields=fields or ["voltage"], threshold=threshold)
    document["spec"]["source"]["partitions"] = partitions
    document["spec"]["flink"] = {}
    return parse_pipeline(document)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def quiet_cluster(stack: StackConfig) -> list[str]:
    """Cancel every running job so a benchmark has the machine to itself; return what was cancelled."""
    jobs = httpx.get(f"{stack.flink_url}/jobs/overview", timeout=10).json()["jobs"]
    cancelled = []
    for job in jobs:
        if job["state"] == "RUNNING":
            flinksql.cancel(stack, job["jid"])
            cancelled.append(job["name"])
    return cancelled


def start(stack: StackConfig, pipeline: GridPipeline) -> str:
    ensure_topics(pipeline, stack.kafka_bootstrap)
    job_id = submit(
        pipeline,
        Endpoints(stack.kafka_bootstrap, stack.registry_url),
        {"execution.target": "remote", "rest.address": HOST, "rest.port": str(stack.ports.flink_rest)},
    )
    flinksql.wait_for_state(stack, job_id, "RUNNING", timeout=120)
    return job_id


def source_records_out(stack: StackConfig, job_id: str) -> int:
    """Records the job's source vertex has emitted so far."""
    job: dict[str, Any] = httpx.get(f"{stack.flink_url}/jobs/{job_id}", timeout=10).json()
    source = next(v for v in job["vertices"] if "Source" in v["name"])
    return int(source["metrics"]["write-records"])
