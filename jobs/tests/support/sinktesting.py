"""Helpers for sink tests and benchmarks: read what a pipeline wrote to InfluxDB and to the S3 archive."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from typing import Any

import httpx

from gridpipe_jobs.archive import S3Access, open_dataset
from gridpipe_jobs.sinks import MEASUREMENTS, dataset_root
from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_stack import credentials
from gridpipe_stack.config import StackConfig


def s3_access(stack: StackConfig) -> S3Access:
    from gridpipe_stack import credentials

    found = credentials.s3(stack)
    return S3Access(found.endpoint, found.access_key, found.secret_key, found.region)


def flux(stack: StackConfig, query: str) -> list[dict[str, str]]:
    """Rows of a Flux query's CSV answer (one table: end the query with ``group()``)."""
    influx = credentials.influxdb(stack)
    response = httpx.post(
        f"{influx.url}/api/v2/query",
        params={"org": influx.org},
        headers={
            "Authorization": f"Token {influx.token}",
            "Content-Type": "application/vnd.flux",
            "Accept": "application/csv",
        },
        content=query,
        timeout=60,
    )
    response.raise_for_status()
    rows = [r for r in csv.reader(io.StringIO(response.text)) if r and any(r)]
    if not rows:
        return []
    header = rows[0]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if r != header]


def _points_field(stack: StackConfig, pipeline: GridPipeline, field: str) -> list[dict[str, str]]:
    """Every point of the pipeline with one of its fields as ``_value``: time, tags, value (one row per point)."""
    spec = pipeline.spec
    return flux(
        stack,
        # An explicit stop: range() stops at now() by default, hiding the future event times tests write after
        # midnight UTC (today's midnight + 2 h).
        f'from(bucket: "{spec.sinks.influxdb.bucket}") |> range(start: 0, stop: 2100-01-01T00:00:00Z)'
        f' |> filter(fn: (r) => r._measurement == "{MEASUREMENTS[spec.profile]}"'
        f' and r.pipeline == "{pipeline.metadata.name}" and r._field == "{field}")'
        ' |> keep(columns: ["_time", "sensor_id", "anomaly_type", "severity", "_value"]) |> group()',
    )


def influx_alerts(stack: StackConfig, pipeline: GridPipeline) -> list[dict[str, str]]:
    """Every point of the pipeline: its time, tags and alert id (one row per point)."""
    return [
        {
            "time": r["_time"],
            "sensor_id": r["sensor_id"],
            "anomaly_type": r["anomaly_type"],
            "severity": r["severity"],
            "alert_id": r["_value"],
        }
        for r in _points_field(stack, pipeline, "alert_id")
    ]


def influx_original_events(stack: StackConfig, pipeline: GridPipeline) -> list[dict[str, str]]:
    """Every point's time, sensor id and ``original_event`` text (one row per point)."""
    return [
        {"time": r["_time"], "sensor_id": r["sensor_id"], "original_event": r["_value"]}
        for r in _points_field(stack, pipeline, "original_event")
    ]


def archive_rows(stack: StackConfig, pipeline: GridPipeline, dataset: str) -> int:
    archive = pipeline.spec.sinks.archive
    found = open_dataset(
        s3_access(stack).filesystem(), dataset_root(archive.bucket, archive.prefix, pipeline.metadata.name, dataset)
    )
    return 0 if found is None else int(found.count_rows())


def archive_files(stack: StackConfig, pipeline: GridPipeline, dataset: str) -> tuple[int, int]:
    """The committed Parquet files of a dataset and their bytes, listed from S3 (the part files DuckDB reads)."""
    from pyarrow import fs

    archive = pipeline.spec.sinks.archive
    root = dataset_root(archive.bucket, archive.prefix, pipeline.metadata.name, dataset)
    found = s3_access(stack).filesystem().get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
    parts = [f for f in found if f.type == fs.FileType.File and f.base_name.startswith("part-")]
    return len(parts), sum(f.size for f in parts)


def prometheus_value(stack: StackConfig, promql: str) -> float | None:
    """The value of a PromQL query with one series (an instant query), None when it has none."""
    body = httpx.get(f"{stack.prometheus_url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert body["status"] == "success", f"Prometheus refused {promql!r}: {body.get('error')}"
    results = body["data"]["result"]
    return float(results[0]["value"][1]) if results else None


def archive_query(stack: StackConfig, pipeline: GridPipeline, sql: str) -> list[tuple[Any, ...]]:
    from gridpipe_jobs.archive import connect

    archive = pipeline.spec.sinks.archive
    with connect(s3_access(stack).filesystem(), archive.bucket, archive.prefix, pipeline.metadata.name) as connection:
        return connection.execute(sql).fetchall()


def wait_until(
    what: str, check: Callable[[], Any], done: Callable[[Any], bool], *, timeout: float, every: float = 1.0
) -> Any:
    """Poll ``check`` until ``done`` holds for its value; fail naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    value = check()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f}s, last value {value!r}")
        time.sleep(every)
        value = check()
    return value


def operator_counter(stack: StackConfig, job_id: str, vertex_part: str, metric_suffix: str) -> int:
    """The sum over subtasks of an operator metric, from Flink's REST API (e.g. ``influxdb.deadLettered``)."""
    job = httpx.get(f"{stack.flink_url}/jobs/{job_id}", timeout=10).json()
    vertex = next(v for v in job["vertices"] if vertex_part in v["name"])
    base = f"{stack.flink_url}/jobs/{job_id}/vertices/{vertex['id']}"
    names = [m["id"] for m in httpx.get(f"{base}/metrics", timeout=10).json() if m["id"].endswith(metric_suffix)]
    total = 0
    for name in names:
        for metric in httpx.get(f"{base}/metrics", params={"get": name}, timeout=10).json():
            total += int(float(metric["value"]))
    return total
