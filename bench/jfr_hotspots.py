"""Where a TaskManager's CPU goes, from a Java Flight Recorder recording: execution samples by task thread, and within
each by the component on the stack (Parquet, Avro, Kafka client, S3, gridpipe's functions, ...).

Record on the dev stack while a benchmark runs, then read the recording:

    jcmd $(pgrep -f TaskManagerRunner) JFR.start duration=40s settings=profile filename=/tmp/tm.jfr
    uv run python bench/jfr_hotspots.py /tmp/tm.jfr [--top 8]

A sample counts for the leaf-most frame that belongs to a known component, so a HashMap call made by the Parquet
writer counts as Parquet; samples with no known frame count under the leaf frame's package.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

COMPONENTS = (  # (class-name prefix, component), most specific first
    ("io.gridpipe.flink.influx", "gridpipe InfluxDB writer"),
    ("io.gridpipe.flink.deadletter", "gridpipe dead-letter writer"),
    ("io.gridpipe.flink", "gridpipe functions (decode, z-score, alert key)"),
    ("io.gridpipe.shaded.avro", "Avro (the decoder's shaded copy)"),
    ("org.apache.parquet", "Parquet encoding"),
    ("org.xerial.snappy", "Snappy compression"),
    ("io.airlift.compress", "Snappy compression"),
    ("org.apache.avro", "Avro"),
    ("org.apache.flink.formats.avro", "Avro"),
    ("org.apache.flink.formats.parquet", "Parquet encoding"),
    ("org.apache.kafka", "Kafka client"),
    ("org.apache.flink.connector.kafka", "Kafka connector"),
    ("org.apache.hadoop.fs.s3a", "S3 (S3A)"),
    ("software.amazon", "S3 (AWS SDK)"),
    ("com.amazonaws", "S3 (AWS SDK)"),
    ("org.apache.flink.fs.s3", "S3 (Flink)"),
    ("org.apache.flink.connector.file", "Flink file sink"),
    ("org.apache.flink.streaming.api.functions.sink.filesystem", "Flink file sink"),
    ("org.apache.flink.table.runtime.generated", "Flink SQL generated code"),
    ("StreamExec", "Flink SQL generated code"),
    ("org.apache.flink.table", "Flink SQL runtime"),
    ("org.apache.flink.runtime.io.network", "Flink network stack"),
    ("org.apache.flink.runtime.state", "Flink state"),
    ("org.apache.flink.runtime.checkpoint", "Flink checkpoints"),
    ("org.apache.flink.api.common.typeutils", "Flink serializers"),
    ("org.apache.flink.streaming", "Flink streaming runtime"),
    ("org.apache.flink.runtime", "Flink runtime"),
)
TASK_SUFFIX = re.compile(r"\s*\(\d+/\d+\)#\d+$")


def component(class_name: str) -> str | None:
    dotted = class_name.replace("/", ".")  # JFR's JSON names classes in their internal form
    return next((name for prefix, name in COMPONENTS if dotted.startswith(prefix)), None)


def samples(recording: Path) -> Iterable[dict[str, Any]]:
    jfr = shutil.which("jfr")
    if jfr is None:
        raise SystemExit("jfr (the JDK's recording reader) is not on PATH -- fix: put the JDK's bin directory on PATH")
    printed = subprocess.run(
        [jfr, "print", "--json", "--events", "jdk.ExecutionSample", str(recording)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    yield from (event["values"] for event in json.loads(printed.stdout)["recording"]["events"])


def thread_group(sample: dict[str, Any]) -> str:
    thread = sample.get("sampledThread") or {}
    name = thread.get("javaName") or thread.get("osName") or "?"
    name = TASK_SUFFIX.sub("", name)
    return name if len(name) <= 90 else name[:87] + "..."


def classify(sample: dict[str, Any]) -> str:
    frames = (sample.get("stackTrace") or {}).get("frames") or []
    for frame in frames:  # leaf first
        found = component(frame["method"]["type"]["name"])
        if found:
            return found
    if not frames:
        return "(no stack)"
    return ".".join(frames[0]["method"]["type"]["name"].replace("/", ".").split(".")[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recording", type=Path)
    parser.add_argument("--top", type=int, default=8, help="components shown per thread")
    args = parser.parse_args()
    by_thread: dict[str, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    for sample in samples(args.recording):
        where = classify(sample)
        by_thread[thread_group(sample)][where] += 1
        overall[where] += 1
    total = sum(overall.values())
    print(f"{total} execution samples")
    for thread, counts in sorted(by_thread.items(), key=lambda item: -sum(item[1].values())):
        count = sum(counts.values())
        print(f"\n{count / total:6.1%}  {thread}")
        for where, n in counts.most_common(args.top):
            print(f"        {n / total:6.1%}  {where}")
    print("\nall threads:")
    for where, n in overall.most_common(args.top * 2):
        print(f"  {n / total:6.1%}  {where}")


if __name__ == "__main__":
    main()
