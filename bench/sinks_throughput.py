"""Replay throughput of the grid job with both sinks on (InfluxDB + Parquet archive on S3) against detection only.

Issue 5's bar: the sinks cost less than a third of the throughput, at parallelism 1. One pre-filled topic of grid
events (10,000 meters) is replayed twice from the beginning, by two pipelines differing only in spec.sinks:
events / (time from the job running to its source having emitted every event) for detection only, against
events / (time from the job running until the archive on S3 holds every well-formed event) with the sinks on: the
archive writer runs in a task of its own, so its source finishing early says nothing.

Run with the dev stack up:  uv run python bench/sinks_throughput.py [--events 2000000]
"""

from __future__ import annotations

import argparse
import time

from common import record
from pipelines import quiet_cluster, source_records_out, start, unique

from gridpipe_generator.run import Generator, GeneratorConfig
from gridpipe_jobs.sinktesting import archive_rows
from gridpipe_jobs.testing import grid_document
from gridpipe_schemas.pipeline import GridPipeline, parse_pipeline
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack import flinksql
from gridpipe_stack.config import StackConfig


def _variant(name: str, topic: str, sinks: bool) -> GridPipeline:
    document = grid_document(name, fields=["voltage"], threshold=2.5)
    document["spec"]["source"].update(topic=topic, partitions=3)
    # Archived files become visible at the checkpoint after they are written: a short interval keeps that wait from
    # dominating the "archive complete" time.
    document["spec"]["flink"] = {"checkpointInterval": "2s"}
    document["spec"]["sinks"] = {"influxdb": {"enabled": sinks}, "archive": {"enabled": sinks}}
    return parse_pipeline(document)


def _replay(stack: StackConfig, pipeline: GridPipeline, events: int, wellformed: int) -> dict[str, float]:
    job_id = start(stack, pipeline)
    began = time.monotonic()
    last_report = began
    done = 0
    while done < events:
        time.sleep(0.5)
        done = source_records_out(stack, job_id)
        if time.monotonic() - last_report > 5:
            print(f"… {done:,} of {events:,} events, {done / (time.monotonic() - began):,.0f}/s", flush=True)
            last_report = time.monotonic()
    elapsed = time.monotonic() - began
    figures = {"seconds_from_job_running": round(elapsed, 2), "events_per_second": round(events / elapsed)}
    print(f"source done: {figures}", flush=True)
    if pipeline.spec.sinks.archive.enabled:
        # Malformed events go to the dead-letter topic, not the archive: wait for the well-formed ones.
        deadline = time.monotonic() + 300
        while archive_rows(stack, pipeline, "readings") < wellformed and time.monotonic() < deadline:
            time.sleep(1)
        archived = time.monotonic() - began
        figures["seconds_until_archive_complete"] = round(archived, 2)
        figures["events_per_second_until_archive_complete"] = round(events / archived)
    flinksql.cancel(stack, job_id)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--meters", type=int, default=10_000)
    args = parser.parse_args()
    stack = StackConfig.from_env()
    # The stack's TaskManager has GRIDPIPE_INFLUXDB_URL/ORG/TOKEN in its environment: the sink needs no options.
    cancelled = quiet_cluster(stack)
    topic = unique("bench-sinks") + "-readings"
    detection = _variant(unique("bench-detect"), topic, sinks=False)
    both = _variant(unique("bench-sinks"), topic, sinks=True)

    print(f"pre-filling {topic} with {args.events:,} events from {args.meters:,} meters…")
    fill = GeneratorConfig(
        PipelineKind.GRID,
        stack.kafka_bootstrap,
        stack.registry_url,
        topic,
        event_rate=0,
        count=args.events,
        meters=args.meters,
        anomaly_rate=0.001,
        malformed_rate=0.001,
        seed=1,
        start_ms=1_767_225_600_000,
        partitions=3,
    )
    summary = Generator(fill, progress=lambda line: print(line, flush=True)).run()
    wellformed = args.events - sum(summary.malformed.values())

    print("replaying it through the detection-only job…", flush=True)
    alone = _replay(stack, detection, args.events, wellformed)
    print("replaying it through the job with InfluxDB and the archive on…", flush=True)
    sinks = _replay(stack, both, args.events, wellformed)
    # The archive writer runs in its own task: the source finishing says little; the archive being complete does.
    cost = 1 - sinks["events_per_second_until_archive_complete"] / alone["events_per_second"]
    record(
        "sinks-throughput",
        {
            "events": args.events,
            "meters": args.meters,
            "parallelism": 1,
            "detection_only": alone,
            "with_influxdb_and_archive": sinks,
            "throughput_cost_of_sinks": round(cost, 3),
            "bar_cost": "< 0.333",
            "archive": "Parquet/SNAPPY on SeaweedFS S3, every reading and anomaly, checkpoint every 2 s",
            "cost_measured_as": "1 - (events / s until the archive holds every event) / (detection-only events / s)",
            "jobs_cancelled_first": cancelled,
            "note": "2 shared cores: other work on the machine lowers both figures",
        },
    )


if __name__ == "__main__":
    main()
