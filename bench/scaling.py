"""How the grid job scales: replay throughput at parallelism 1 and 2, and its cost as the meters grow.

For each meter count (default 1,000, 10,000 and 100,000), one topic of 4 partitions is pre-filled with grid events
and replayed from the beginning by detection-only jobs at parallelism 1 and 2, alternately, ``--rounds`` times each.
Recorded per run: events/s (job running to every event read), the TaskManager's CPU seconds per event, and the
z-score state once the replay is done: the size of the last completed checkpoint and how long checkpoints took
(2 s interval during the replay). Sizing advice from it is in docs/performance.md.

Run with the dev stack up:  uv run python bench/scaling.py [--events 2000000] [--meters 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import httpx
from common import record
from pipelines import (
    cpu_snapshot,
    grid_pipeline,
    prefill_replay_topic,
    quiet_cluster,
    remove_bench_data,
    start,
    unique,
    wait_for_source,
)

from gridpipe_jobs import flinkrest
from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_stack.config import StackConfig

PARTITIONS = 4


def _checkpoints(stack: StackConfig, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{stack.flink_url}/jobs/{job_id}/checkpoints", timeout=10).json()
    return body


def _state_after_replay(stack: StackConfig, job_id: str, completed_before: int) -> dict[str, Any]:
    """The first checkpoint completed after the replay ended: its size and duration, with the run's maximum."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = _checkpoints(stack, job_id)
        if body["counts"]["completed"] > completed_before and body["latest"]["completed"]:
            latest = body["latest"]["completed"]
            return {
                "checkpoint_state_bytes": latest["state_size"],
                "checkpoint_duration_ms": latest["end_to_end_duration"],
                "checkpoint_duration_max_ms": body["summary"]["end_to_end_duration"]["max"],
                "checkpoints_failed": body["counts"]["failed"],
            }
        time.sleep(0.5)
    raise TimeoutError(f"no checkpoint of job {job_id} completed within 60 s after the replay -- fix: read its log")


def _replay(stack: StackConfig, pipeline: GridPipeline, events: int) -> dict[str, Any]:
    job_id = start(stack, pipeline)
    try:
        cpu_before = cpu_snapshot()
        elapsed = wait_for_source(stack, job_id, events)
        cpu = cpu_snapshot()["taskmanager"] - cpu_before["taskmanager"]
        figures = {
            "events_per_second": round(events / elapsed),
            "taskmanager_cpu_us_per_event": round(cpu / events * 1e6, 2),
            **_state_after_replay(stack, job_id, _checkpoints(stack, job_id)["counts"]["completed"]),
        }
        print(f"parallelism {pipeline.spec.flink.parallelism}: {figures}", flush=True)
        return figures
    finally:
        flinkrest.cancel(stack.flink_url, job_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--meters", default="1000,10000,100000", help="comma-separated meter counts")
    parser.add_argument("--rounds", type=int, default=2, help="alternate runs at each parallelism")
    args = parser.parse_args()
    stack = StackConfig.from_env()
    cancelled = quiet_cluster(stack)
    results: dict[str, Any] = {}
    pipelines: list[GridPipeline] = []
    try:
        for meters in (int(m) for m in args.meters.split(",")):
            topic = unique(f"bench-scale-{meters}") + "-readings"
            prefill_replay_topic(stack, topic, args.events, meters, partitions=PARTITIONS)
            runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
            for round_number in range(1, args.rounds + 1):
                for parallelism in (1, 2):
                    pipeline = grid_pipeline(
                        unique("bench-scale"),
                        topic=topic,
                        partitions=PARTITIONS,
                        checkpoint_interval="2s",
                        parallelism=parallelism,
                    )
                    pipelines.append(pipeline)
                    print(f"{meters:,} meters, round {round_number}, parallelism {parallelism}…", flush=True)
                    runs[parallelism].append(_replay(stack, pipeline, args.events))
            results[f"{meters}_meters"] = {
                f"parallelism_{p}": {
                    "events_per_second_median": statistics.median(r["events_per_second"] for r in figures),
                    "runs": figures,
                }
                for p, figures in runs.items()
            }
    finally:
        remove_bench_data(stack, pipelines)
    record(
        "scaling",
        {
            "events_per_run": args.events,
            "topic_partitions": PARTITIONS,
            "pipeline": "grid detection only: decode, voltage z-score (5 min window, 10 s buckets), status, Kafka",
            "results": results,
            "jobs_cancelled_first": cancelled,
            "note": "2 cores shared with Kafka, the generator's topic and the other stack services",
        },
    )


if __name__ == "__main__":
    main()
