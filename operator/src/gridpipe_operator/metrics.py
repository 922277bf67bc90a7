"""Prometheus metrics of the operator, served on their own port (``/metrics``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

from gridpipe_schemas.archive_usage import ArchiveUsageCollector

RECONCILES = Counter(
    "gridpipe_operator_reconciles_total", "Reconciles of GridPipelines, by what woke them.", ["trigger"]
)
ERRORS = Counter(
    "gridpipe_operator_reconcile_errors_total",
    "Reconciles that ended in an error, by kind of error.",
    ["trigger", "kind"],
)
DURATION = Histogram(
    "gridpipe_operator_reconcile_duration_seconds",
    "Time one reconcile takes, from reading the pipeline to writing its status.",
    ["trigger"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PIPELINES = Gauge("gridpipe_operator_pipelines", "GridPipelines seen at the last resync.")
# What each pipeline's archive holds, as last listed in S3 (handlers/archive_usage.py).
ARCHIVES = ArchiveUsageCollector()
REGISTRY.register(ARCHIVES)


@contextmanager
def measured(trigger: str) -> Iterator[None]:
    """Count and time one reconcile; errors are counted by their class name and re-raised."""
    RECONCILES.labels(trigger).inc()
    start = time.perf_counter()
    try:
        yield
    except Exception as error:
        ERRORS.labels(trigger, type(error).__name__).inc()
        raise
    finally:
        DURATION.labels(trigger).observe(time.perf_counter() - start)


def serve(port: int, address: str = "0.0.0.0") -> None:  # noqa: S104 -- scraped from other pods
    start_http_server(port, addr=address)
