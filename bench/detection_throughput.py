"""Replay throughput of the grid detection job: a pre-filled topic of grid events through the whole job.

Issue 4's bar: >= 100,000 events/s at parallelism 1 for >= 5,000,000 events from 10,000 meters, through decode,
dead-letter routing, z-score, status check and output. The job reads the backlog from the beginning; the figure is
events / (time from the job running to its source having emitted every event, with the sinks caught up).

Run with the dev stack up:  uv run python bench/detection_throughput.py [--events 5000000]
"""

from __future__ import annotations

import argparse

from common import record
from pipelines import (
    grid_pipeline,
    prefill_replay_topic,
    quiet_cluster,
    remove_bench_data,
    start,
    unique,
    wait_for_source,
)

from gridpipe_jobs import flinkrest
from gridpipe_stack.config import StackConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--meters", type=int, default=10_000)
    args = parser.parse_args()
    stack = StackConfig.from_env()
    cancelled = quiet_cluster(stack)
    pipeline = grid_pipeline(unique("bench-throughput"), partitions=3)

    prefill_replay_topic(stack, pipeline.spec.source.topic, args.events, args.meters)

    print("replaying it through the job…")
    job_id = start(stack, pipeline)
    try:
        elapsed = wait_for_source(stack, job_id, args.events)
    finally:
        flinkrest.cancel(stack.flink_url, job_id)
        remove_bench_data(stack, [pipeline])
    record(
        "detection-throughput",
        {
            "events": args.events,
            "meters": args.meters,
            "seconds_from_job_running": round(elapsed, 2),
            "events_per_second": round(args.events / elapsed),
            "bar_events_per_second": 100_000,
            "parallelism": 1,
            "pipeline": "decode + dead letters + voltage z-score (5 min, 10 s buckets) + equipment status + output",
            "jobs_cancelled_first": cancelled,
        },
    )


if __name__ == "__main__":
    main()
