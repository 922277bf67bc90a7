"""End-to-end detection latency of the grid job at a steady 10,000 events/s.

Latency of an anomaly = the time Kafka appended the alert to the anomalies topic (LogAppendTime) minus the time the
generator created the reading (its gridpipe-produced-at header). Both clocks are this machine's. Windows need
min_samples readings per meter before they judge, so the first 30 s are warm-up; the run continues until at
least --anomalies alerts have been measured.

Issue 4's bar: p99 < 100 ms (spec SR-006); aim < 50 ms. ``--sinks`` measures the same with InfluxDB and the Parquet
archive on S3 switched on (pipeline defaults: 10 s checkpoints), recorded apart: the archive uploads and commits its
files at every checkpoint, and alerts must not wait for that.

Run with the dev stack up:  uv run python bench/detection_latency.py [--sinks]
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
from typing import Any

import fastavro
from common import record
from pipelines import grid_pipeline, quiet_cluster, remove_bench_data, start, unique

from gridpipe_generator.records import PRODUCED_AT_HEADER
from gridpipe_generator.run import Generator, GeneratorConfig, RunSummary
from gridpipe_jobs import flinkrest
from gridpipe_schemas.catalog import parsed_avro
from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_schemas.topics import create_missing_topics
from gridpipe_stack.config import StackConfig


def _topic_with_append_time(stack: StackConfig, topic: str) -> None:
    create_missing_topics(stack.kafka_bootstrap, {topic: (1, {"message.timestamp.type": "LogAppendTime"})})


def _drain(stack: StackConfig, topic: str) -> list[Any]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka_bootstrap,
            "group.id": unique("bench"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    idle = 0
    while idle < 10:
        batch = consumer.consume(10_000, timeout=1.0)
        idle = idle + 1 if not batch else 0
        out.extend(m for m in batch if not m.error())
    consumer.close()
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure(stack: StackConfig, pipeline: GridPipeline, args: argparse.Namespace) -> tuple[RunSummary, list[float]]:
    """Feed the running job at the target rate; the latency of every alert whose reading the generator created."""

    cfg = GeneratorConfig(
        PipelineKind.GRID,
        stack.kafka_bootstrap,
        stack.registry_url,
        pipeline.spec.source.topic,
        event_rate=args.rate,
        duration=args.seconds,
        anomaly_rate=args.anomaly_rate,
        seed=3,
        meters=10_000,
        partitions=3,
    )
    print(f"producing {args.rate:,} events/s for {args.seconds:.0f}s into a running job…", flush=True)
    summary = Generator(cfg, progress=lambda line: print(line, flush=True)).run(threading.Event())

    print("matching alerts to readings…", flush=True)
    schema = parsed_avro("SensorReading")
    produced_at: dict[tuple[str, int], float] = {}
    for message in _drain(stack, cfg.topic):
        value = message.value()
        if not value or value[0] != 0:
            continue
        reading: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
        headers = dict(message.headers())
        produced_at[(reading["meter_id"], reading["timestamp"])] = int(headers[PRODUCED_AT_HEADER]) / 1000.0

    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserialize = AvroDeserializer(SchemaRegistryClient({"url": stack.registry_url}))
    latencies = []
    slow_at: list[float] = []
    for message in _drain(stack, pipeline.spec.outputs.anomalies_topic):
        alert = deserialize(message.value(), SerializationContext(message.topic(), MessageField.VALUE))
        key = (alert["original_event"]["meter_id"], alert["original_event"]["timestamp"])
        if key in produced_at:
            latencies.append(message.timestamp()[1] - produced_at[key])
            if latencies[-1] > 50:
                slow_at.append(produced_at[key] / 1000.0)
    first = min(produced_at.values()) / 1000.0
    print("alerts slower than 50 ms, seconds into the run:", [round(t - first, 1) for t in sorted(slow_at)])
    return summary, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--anomaly-rate", type=float, default=0.002)
    parser.add_argument("--sinks", action="store_true", help="InfluxDB and the archive on, recorded apart")
    args = parser.parse_args()
    stack = StackConfig.from_env()
    cancelled = quiet_cluster(stack)
    pipeline = grid_pipeline(unique("bench-latency"), threshold=4.0, sinks=args.sinks)
    _topic_with_append_time(stack, pipeline.spec.outputs.anomalies_topic)
    job_id = start(stack, pipeline)
    try:
        summary, latencies = _measure(stack, pipeline, args)
    finally:
        flinkrest.cancel(stack.flink_url, job_id)
        remove_bench_data(stack, [pipeline])
    record(
        "detection-latency-with-sinks" if args.sinks else "detection-latency",
        {
            "sinks": "InfluxDB and the Parquet archive on S3" if args.sinks else "Kafka topics only",
            "target_events_per_second": args.rate,
            "achieved_events_per_second": round(summary.achieved_rate),
            "alerts_measured": len(latencies),
            "p50_ms": round(percentile(latencies, 0.50), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "bar_p99_ms": 100,
            "measured_from": "generator creation time (gridpipe-produced-at) to LogAppendTime of the alert",
            "jobs_cancelled_first": cancelled,
        },
    )


if __name__ == "__main__":
    main()
