"""Replay throughput of the grid job with both sinks on (InfluxDB + Parquet archive on S3) against detection only.

Issue 5's bar: the sinks cost less than a third of the throughput, at parallelism 1. One pre-filled topic of grid
events (10,000 meters) is replayed from the beginning by two pipelines differing only in spec.sinks, alternately,
``--rounds`` times each: events / (time from the job running until its source has read every event) for detection
only, against events / (time from the job running until the archive on S3 holds every well-formed event) with the
sinks on (the archive reads the topic itself, so the alert path finishing early says nothing; its own time is
recorded beside). The CPU seconds per event of the TaskManager, Kafka, SeaweedFS and InfluxDB processes over each
replay show the job's own cost apart from the S3 server's on the same two cores. The first round
warms the TaskManager's JIT and is reported but left out of the cost, which compares the medians of the others.
Topics and archive files are deleted afterwards.

``--functions-jar LABEL=JAR`` (given twice or more) compares builds of the functions jar (jobs/java): every round
replays through each of them in turn, so the builds are interleaved in one session; the cost is reported per build.
``--checkout LABEL=DIR`` adds the job as another checkout of gridpipe makes it (its SQL and its functions jar, e.g.
a ``git worktree`` of an earlier commit) to the builds compared; ``--this-checkout LABEL`` names this checkout's
build among them.

``--fresh-taskmanager`` restarts the TaskManager before every replay, so that no run inherits the JIT state, the
metaspace or the leftovers of the jobs before it; then every run includes the JIT's warm-up and none is left out.

Run with the dev stack up:
    uv run python bench/sinks_throughput.py [--events 5000000] [--rounds 3] [--fresh-taskmanager]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import record
from pipelines import (
    cpu_snapshot,
    grid_pipeline,
    prefill_replay_topic,
    quiet_cluster,
    remove_bench_data,
    restart_taskmanager,
    start,
    unique,
    wait_for_sources,
)

from gridpipe_jobs import flinkrest
from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_stack.config import StackConfig
from sinktesting import archive_rows, wait_until


def _variant(name: str, topic: str, sinks: bool, checkpoint_interval: str) -> GridPipeline:
    # Archived files become visible at the checkpoint after they are written: a short interval (2 s by default) keeps
    # that wait from dominating the "archive complete" time, but every checkpoint also snapshots the z-score state.
    return grid_pipeline(name, topic=topic, sinks=sinks, checkpoint_interval=checkpoint_interval)


@dataclass(frozen=True)
class Build:
    """What a job is made with: this checkout's code, or another functions jar, or another checkout's code."""

    jar: str | None = None
    checkout: str | None = None


def _replay(stack: StackConfig, pipeline: GridPipeline, events: int, wellformed: int, build: Build) -> dict[str, Any]:
    job_id = start(stack, pipeline, build.jar, build.checkout)
    try:
        began, cpu_before = time.monotonic(), cpu_snapshot()
        read_all = wait_for_sources(stack, job_id, events)
        alert_path = next(seconds for name, seconds in read_all.items() if "archiving_" not in name)
        figures: dict[str, Any] = {
            "seconds_until_alert_path_read_all": round(alert_path, 2),
            "alert_path_events_per_second": round(events / alert_path),
            "events_per_second": round(events / alert_path),
        }
        if pipeline.spec.sinks.archive.enabled:
            # Malformed events go to the dead-letter topic, not the archive: wait for the well-formed ones.
            wait_until(
                "the archive holding every well-formed event",
                lambda: archive_rows(stack, pipeline, "readings"),
                lambda rows: rows >= wellformed,
                timeout=300,
                every=0.5,
            )
            archived = time.monotonic() - began
            figures["seconds_until_archive_complete"] = round(archived, 2)
            figures["events_per_second"] = round(events / archived)
        cpu_after = cpu_snapshot()
        figures["cpu_us_per_event"] = {
            name: round((cpu_after[name] - cpu_before[name]) / events * 1e6, 2) for name in cpu_after
        }
        print(f"replayed: {figures}", flush=True)
        return figures
    finally:
        flinkrest.cancel(stack.flink_url, job_id)


def _builds(jars: list[str], checkouts: list[str], this_checkout: str | None) -> dict[str, Build]:
    """``LABEL=JAR`` and ``LABEL=DIR`` arguments as {label: build}, with this checkout's build under ``this_checkout``
    (and alone, as "this checkout", when nothing else is given)."""
    builds: dict[str, Build] = {}
    for spec in jars:
        label, sep, jar = spec.partition("=")
        if not sep or not label or not Path(jar).is_file():
            raise SystemExit(f"--functions-jar {spec!r}: expected LABEL=JAR with an existing jar file")
        builds[label] = Build(jar=jar)
    for spec in checkouts:
        label, sep, checkout = spec.partition("=")
        if not sep or not label or not (Path(checkout) / "jobs" / "src" / "gridpipe_jobs").is_dir():
            raise SystemExit(f"--checkout {spec!r}: expected LABEL=DIR with a gridpipe checkout (jobs/src) in DIR")
        builds[label] = Build(checkout=str(Path(checkout).resolve()))
    if this_checkout is not None or not builds:
        builds[this_checkout or "this checkout"] = Build()
    return builds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="alternate runs of each job; the first warms up")
    parser.add_argument("--fresh-taskmanager", action="store_true", help="restart the TaskManager before each replay")
    parser.add_argument("--checkpoint-interval", default="2s", help="of both jobs (the examples use 10s)")
    parser.add_argument(
        "--functions-jar",
        action="append",
        default=[],
        metavar="LABEL=JAR",
        help="a build of the functions jar to compare (twice or more); default: this checkout's",
    )
    parser.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="another checkout of gridpipe whose job (SQL and functions jar) to compare",
    )
    parser.add_argument("--this-checkout", metavar="LABEL", help="this checkout's label among the builds compared")
    parser.add_argument("--label", help="appended to the recorded result's name, so earlier results stay")
    args = parser.parse_args()
    builds = _builds(args.functions_jar, args.checkout, args.this_checkout)
    stack = StackConfig.from_env()
    # The stack's TaskManager has GRIDPIPE_INFLUXDB_URL/ORG/TOKEN in its environment: the sink needs no options.
    cancelled = quiet_cluster(stack)
    topic = unique("bench-sinks") + "-readings"
    pipelines: list[GridPipeline] = []
    variants = (("detection_only", False), ("with_influxdb_and_archive", True))
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {build: {label: [] for label, _ in variants} for build in builds}
    try:
        wellformed = prefill_replay_topic(stack, topic, args.events, args.meters)
        for round_number in range(1, args.rounds + 1):
            for build, made_with in builds.items():
                for label, sinks in variants:
                    pipeline = _variant(
                        unique("bench-sinks" if sinks else "bench-detect"), topic, sinks, args.checkpoint_interval
                    )
                    pipelines.append(pipeline)
                    if args.fresh_taskmanager:
                        restart_taskmanager(stack)
                    print(
                        f"round {round_number}/{args.rounds}, {build}: replaying through {label.replace('_', ' ')}…",
                        flush=True,
                    )
                    runs[build][label].append(_replay(stack, pipeline, args.events, wellformed, made_with))
    finally:
        remove_bench_data(stack, pipelines)
    results = {build: _cost(build_runs, args.fresh_taskmanager) for build, build_runs in runs.items()}
    single = len(builds) == 1
    record(
        "sinks-throughput"
        + ("" if single else "-builds")
        + ("-fresh-taskmanager" if args.fresh_taskmanager else "")
        + ("" if args.checkpoint_interval == "2s" else f"-checkpoint-{args.checkpoint_interval}")
        + (f"-{args.label}" if args.label else ""),
        {
            "events": args.events,
            "meters": args.meters,
            "parallelism": 1,
            "rounds": args.rounds,
            "fresh_taskmanager": args.fresh_taskmanager,
            **(
                {**results[next(iter(builds))], "runs": runs[next(iter(builds))]}
                if single
                else {
                    "builds": {build: {**results[build], **_described(made)} for build, made in builds.items()},
                    "runs": runs,
                }
            ),
            "bar_cost": "< 0.333",
            "archive": "Parquet/SNAPPY on SeaweedFS S3, every reading and anomaly",
            "checkpoint_interval": args.checkpoint_interval,
            "cost_measured_as": "1 - median(events / s until the archive holds every event)"
            " / median(events / s until the detection-only source read every event)"
            + (
                "; a TaskManager restarted before every replay, no round left out"
                if args.fresh_taskmanager
                else ", round 1 (JIT warm-up) left out"
            ),
            "jobs_cancelled_first": cancelled,
            "note": "2 shared cores: other work on the machine lowers both figures",
        },
    )


def _described(build: Build) -> dict[str, str]:
    if build.checkout is not None:
        head = subprocess.run(
            ["git", "-C", build.checkout, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        return {"checkout": build.checkout, "commit": head.stdout.strip()}
    return {"jar": Path(build.jar).name} if build.jar else {"commit": "this checkout"}


def _cost(runs: dict[str, list[dict[str, Any]]], fresh_taskmanager: bool) -> dict[str, Any]:
    # A fresh TaskManager per replay warms up in every run alike: then no run is left out.
    measured = {label: figures if fresh_taskmanager else figures[1:] or figures for label, figures in runs.items()}
    rates = {label: statistics.median(f["events_per_second"] for f in figures) for label, figures in measured.items()}
    cost = 1 - rates["with_influxdb_and_archive"] / rates["detection_only"]
    print(f"events/s (median after warm-up): {rates}; throughput cost of the sinks {cost:.1%} (bar < 33.3 %)")
    return {
        "events_per_second_median": {label: round(rate) for label, rate in rates.items()},
        "throughput_cost_of_sinks": round(cost, 3),
    }


if __name__ == "__main__":
    main()
