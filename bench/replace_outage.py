"""How long a pipeline is without a job while `gridctl run --replace` takes the running job's place.

Runs `gridctl run --replace -f FILE` against the dev stack ROUNDS times and times its output lines as they come: the
outage is from the line saying the previous job stopped (with a savepoint, or cancelled) to the line saying every
task of the new job runs. ``--checkout NAME=DIR`` adds another checkout of gridpipe (e.g. `git worktree add DIR
<commit>`), whose `gridctl run` is interleaved with this one's in every round. The job keeps its place in the demo:
start the stack with `make up` first (the grid example's generator then loads the job that is replaced).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import record

REPO = Path(__file__).resolve().parent.parent
STOPPED = re.compile(r"^(stopped|cancelled) the previous job")
RUNNING = re.compile(r"^every task of \S+ is running \((?P<scheduled>[\d.]+)s after the job was scheduled")


def replace_once(file: Path, checkout: Path | None, timeout_s: float = 300) -> dict[str, Any]:
    """One `gridctl run --replace` (this checkout's, or ``checkout``'s): its timed stages."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join(str(checkout / p / "src") for p in ("jobs", "schemas"))
    command = ["uv", "run", "--frozen", "gridctl", "run", "--replace", "-f", str(file)]
    began = time.monotonic()
    stopped_at = running_at = None
    scheduled_to_tasks = None
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as run:
        watchdog = threading.Timer(timeout_s, run.kill)
        watchdog.start()
        assert run.stdout is not None
        for line in run.stdout:
            at = time.monotonic() - began
            if STOPPED.match(line):
                stopped_at = at
            elif match := RUNNING.match(line):
                running_at, scheduled_to_tasks = at, float(match["scheduled"])
            if not line.startswith("WARNING"):
                print(f"  {at:6.1f}s {line.rstrip()}", flush=True)
        watchdog.cancel()
    if run.returncode != 0 or stopped_at is None or running_at is None:
        raise SystemExit(
            f"gridctl run --replace -f {file} exited {run.returncode} without replacing a running job (stopped after "
            f"{timeout_s:.0f}s if it took that long) -- fix: start the dev stack and its demo with `make up`, see its "
            "Flink UI, then run this again"
        )
    return {
        "outage_s": round(running_at - stopped_at, 2),
        "whole_run_s": round(running_at, 2),
        "scheduled_to_tasks_running_s": scheduled_to_tasks,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--file", type=Path, default=REPO / "examples" / "grid.yaml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkout", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--this-checkout", default="this", metavar="NAME")
    parser.add_argument("--label", help="appended to the result's name")
    args = parser.parse_args(argv)
    builds: list[tuple[str, Path | None]] = []
    for item in args.checkout:
        name, _, directory = item.partition("=")
        if not directory or not (Path(directory) / "jobs" / "src").is_dir():
            parser.error(f"--checkout {item}: expected NAME=DIR, DIR a gridpipe checkout with jobs/src")
        builds.append((name, Path(directory).resolve()))
    builds.append((args.this_checkout, None))
    runs: list[dict[str, Any]] = []
    for round_number in range(1, args.rounds + 1):
        for name, checkout in builds:
            print(f"round {round_number}, {name}: gridctl run --replace -f {args.file}", flush=True)
            runs.append({"round": round_number, "build": name, **replace_once(args.file, checkout)})
            print(f"  -> without a job for {runs[-1]['outage_s']}s", flush=True)
    outages = {name: [run["outage_s"] for run in runs if run["build"] == name] for name, _ in builds}
    figures = {
        "command": " ".join(["bench/replace_outage.py", *(argv if argv is not None else sys.argv[1:])]),
        "file": str(args.file),
        "runs": runs,
        "outage_s_median": {name: statistics.median(values) for name, values in outages.items()},
        "outage_s_range": {name: [min(values), max(values)] for name, values in outages.items()},
    }
    record("replace-outage" + (f"-{args.label}" if args.label else ""), figures)


if __name__ == "__main__":
    main()
