"""End-to-end detection latency of the grid job at a steady 10,000 events/s, split into stages and over time.

Latency of an anomaly = the time Kafka appended the alert to the anomalies topic (LogAppendTime) minus the time the
reading was sent (its gridpipe-produced-at header). The readings are encoded before the run and sent at a steady
pace (``paced_load``); ``--live-generator`` generates and encodes them while sending, as the generator CLI does,
which costs the machine most of a core. Both clocks are this machine's. The source topic is created with
LogAppendTime too, and every alert carries ``detected_at``, so each latency splits into three stages: the load's
producer to the broker (batching, the broker's round trip), the broker to detection (Flink's fetch, decode, z-score),
and detection to the alert's append (Flink's Kafka producer). Windows need min_samples readings per meter before
they judge, so z-score alerts start after about 30 s; equipment-status alerts come from the first second.

Each run starts a new job; ``--fresh-taskmanager`` restarts the TaskManager before each run first, so every run is
a first minute after a TaskManager start (what every `make up` and every recovery onto a new TaskManager sees).
``--rounds N`` alternates Kafka-only and ``--sinks`` runs N times in one session (the machine is noisy).
Figures per run: p50/p95/p99/max over the run, the first minute's p99 beside the rest's, and the stages.

Issue 4's bar: p99 < 100 ms (spec SR-006); issue 17's: in every run including the first, max < 500 ms.

Run with the dev stack up:
    uv run python bench/detection_latency.py [--sinks | --rounds 3] [--fresh-taskmanager] [--live-generator]
"""

from __future__ import annotations

import argparse
import io
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any

import fastavro
from common import percentile, record
from paced_load import encode_ahead, replay_paced
from pipelines import (
    cpu_snapshot,
    echo,
    grid_pipeline,
    quiet_cluster,
    remove_bench_data,
    restart_taskmanager,
    start,
    unique,
)

from gridpipe_cli.warmup import warm_up
from gridpipe_generator.records import PRODUCED_AT_HEADER
from gridpipe_generator.run import Generator, GeneratorConfig
from gridpipe_jobs import flinkrest
from gridpipe_schemas.catalog import parsed_avro
from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_schemas.topics import create_missing_topics
from gridpipe_stack.config import StackConfig
from gridpipe_stack.stack import start_service, stop_service
from jobtesting import decode_avro

APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}
FIRST_MINUTE = 60.0


@dataclass(frozen=True)
class Alert:
    """One measured alert: when its reading was created (seconds into the run) and its stages in ms."""

    created_s: float
    to_broker_ms: float
    to_detection_ms: float
    to_append_ms: float

    @property
    def total_ms(self) -> float:
        return self.to_broker_ms + self.to_detection_ms + self.to_append_ms

    @property
    def processing_ms(self) -> float:
        """From the reading's append to Kafka to the alert's: the pipeline's own latency (spec SR-006)."""
        return self.to_detection_ms + self.to_append_ms


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


def _load_config(stack: StackConfig, pipeline: GridPipeline, args: argparse.Namespace) -> GeneratorConfig:
    return GeneratorConfig(
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


def _generate_live(cfg: GeneratorConfig) -> float:
    summary = Generator(cfg, progress=lambda line: print(line, flush=True)).run(threading.Event())
    return summary.achieved_rate


def _alerts(stack: StackConfig, pipeline: GridPipeline) -> list[Alert]:
    """Every alert whose reading the generator created, matched to that reading."""
    print("matching alerts to readings…", flush=True)
    schema = parsed_avro("SensorReading")
    readings: dict[tuple[str, int], tuple[float, int]] = {}
    for message in _drain(stack, pipeline.spec.source.topic):
        value = message.value()
        if not value or value[0] != 0:
            continue
        reading: Any = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None)
        created = int(dict(message.headers())[PRODUCED_AT_HEADER]) / 1000.0  # the header is in microseconds
        readings[(reading["meter_id"], reading["timestamp"])] = (created, message.timestamp()[1])

    first = min(created for created, _ in readings.values())
    alerts = []
    messages = _drain(stack, pipeline.spec.outputs.anomalies_topic)
    for message, alert in zip(messages, decode_avro(stack, messages), strict=True):
        found = readings.get((alert["original_event"]["meter_id"], alert["original_event"]["timestamp"]))
        if found is None:
            continue
        created, appended_in = found
        detected = alert["detected_at"].timestamp() * 1000.0
        alerts.append(
            Alert(
                created_s=(created - first) / 1000.0,
                to_broker_ms=appended_in - created,
                to_detection_ms=detected - appended_in,
                to_append_ms=message.timestamp()[1] - detected,
            )
        )
    return sorted(alerts, key=lambda a: a.created_s)


def _summary(alerts: list[Alert]) -> dict[str, Any]:
    totals = [a.total_ms for a in alerts]
    early = [a.total_ms for a in alerts if a.created_s < FIRST_MINUTE]
    late = [a.total_ms for a in alerts if a.created_s >= FIRST_MINUTE]
    processing = [a.processing_ms for a in alerts]
    stages = {
        "to_broker": [a.to_broker_ms for a in alerts],
        "to_detection": [a.to_detection_ms for a in alerts],
        "to_append": [a.to_append_ms for a in alerts],
    }
    return {
        "alerts_measured": len(alerts),
        "p50_ms": round(percentile(totals, 0.50), 1),
        "p95_ms": round(percentile(totals, 0.95), 1),
        "p99_ms": round(percentile(totals, 0.99), 1),
        "max_ms": round(max(totals), 1),
        "mean_ms": round(statistics.fmean(totals), 1),
        "processing_p99_ms": round(percentile(processing, 0.99), 1),
        "processing_max_ms": round(max(processing), 1),
        "first_minute_p99_ms": round(percentile(early, 0.99), 1) if early else None,
        "first_minute_max_ms": round(max(early), 1) if early else None,
        "after_first_minute_p99_ms": round(percentile(late, 0.99), 1) if late else None,
        "after_first_minute_max_ms": round(max(late), 1) if late else None,
        "stages_p99_ms": {name: round(percentile(values, 0.99), 1) for name, values in stages.items()},
        "stages_max_ms": {name: round(max(values), 1) for name, values in stages.items()},
        "slow_alerts_over_50ms_at_s": [round(a.created_s, 1) for a in alerts if a.total_ms > 50],
        # What the new job's first seconds cost, alert by alert: [created s, to broker, to detection, to append ms].
        "first_10s_alerts": [
            [round(a.created_s, 2), round(a.to_broker_ms), round(a.to_detection_ms), round(a.to_append_ms)]
            for a in alerts
            if a.created_s < 10
        ],
    }


def _timeline(alerts: list[Alert], producer_seconds: list[dict[str, float]], step: float = 10.0) -> None:
    """Per ``step`` seconds of the run: alerts, p99 and max, which stage the slowest alert spent its time in and, with
    the paced load, the producer's slowest queue wait, socket wait and round trip to the broker."""
    print(
        f"{'from s':>7} {'alerts':>7} {'p99 ms':>8} {'max ms':>8} {'proc. max':>9}  slowest: broker/detect/append ms"
        "   producer max: queue/send/round trip ms"
    )
    buckets: dict[int, list[Alert]] = {}
    for alert in alerts:
        buckets.setdefault(int(alert.created_s // step), []).append(alert)
    for index in sorted(buckets):
        group = buckets[index]
        slowest = max(group, key=lambda a: a.total_ms)
        seconds = [s for s in producer_seconds if index * step <= s["at_s"] < (index + 1) * step]
        producer = "/".join(f"{max(s[key] for s in seconds):.0f}" for key in _PRODUCER_KEYS) if seconds else ""
        print(
            f"{index * step:>7.0f} {len(group):>7} {percentile([a.total_ms for a in group], 0.99):>8.1f}"
            f" {slowest.total_ms:>8.1f} {max(a.processing_ms for a in group):>9.1f}"
            f"  {slowest.to_broker_ms:.0f}/{slowest.to_detection_ms:.0f}/{slowest.to_append_ms:.0f}"
            f"{producer:>40}"
        )


_PRODUCER_KEYS = ("queue_ms", "send_ms", "round_trip_ms")


def _producer_summary(producer_seconds: list[dict[str, float]]) -> dict[str, Any] | None:
    """The paced producer's own waits (librdkafka statistics, per second): the broker stage's share outside Kafka."""
    if not producer_seconds:
        return None
    return {
        key: {
            "p99_of_seconds": round(percentile([s[key] for s in producer_seconds], 0.99), 1),
            "max": round(max(s[key] for s in producer_seconds), 1),
        }
        for key in _PRODUCER_KEYS
    }


def _schedule_outage(stack: StackConfig, spec: str) -> threading.Thread:
    """``service:start:end``: stop the stack service ``start`` seconds into the run and start it at ``end``."""
    service, start_s, end_s = spec.split(":")

    def outage() -> None:
        time.sleep(float(start_s))
        print(f"stopping {service} (outage until {end_s}s into the run)…", flush=True)
        stop_service(stack, service)
        time.sleep(float(end_s) - float(start_s))
        print(f"{service} ready again in {start_service(stack, service, echo=echo):.1f}s", flush=True)

    thread = threading.Thread(target=outage, name="outage")
    thread.start()
    return thread


def run_once(stack: StackConfig, args: argparse.Namespace, sinks: bool) -> dict[str, Any]:
    pipeline = grid_pipeline(unique("bench-latency"), threshold=4.0, sinks=sinks)
    create_missing_topics(
        stack.kafka_bootstrap,
        {pipeline.spec.source.topic: (3, APPEND_TIME), pipeline.spec.outputs.anomalies_topic: (1, APPEND_TIME)},
    )
    cfg = _load_config(stack, pipeline, args)
    # Encoded before the TaskManager restarts and the job starts, so a fresh TaskManager meets the load at once.
    load = None if args.live_generator else encode_ahead(cfg)
    if args.fresh_taskmanager:
        restart_taskmanager(stack)
    warm_up_s = warm_up(echo=echo)["total_s"] if args.warm_up else None
    cancelled = quiet_cluster(stack)
    began = time.monotonic()
    job_id = start(stack, pipeline)
    outage = _schedule_outage(stack, args.outage) if args.outage else None
    started_s = time.monotonic() - began
    try:
        print(f"producing {args.rate:,} events/s for {args.seconds:.0f}s into a running job…", flush=True)
        cpu_before, load_began = cpu_snapshot(), time.monotonic()
        achieved = _generate_live(cfg) if load is None else replay_paced(load)
        cpu_after, load_seconds = cpu_snapshot(), time.monotonic() - load_began
        alerts = _alerts(stack, pipeline)
    finally:
        if outage is not None:
            outage.join()
        flinkrest.cancel(stack.flink_url, job_id)
        remove_bench_data(stack, [pipeline])
    producer_seconds = load.producer_seconds if load is not None else []
    _timeline(alerts, producer_seconds)
    figures = {
        "sinks": "InfluxDB and the Parquet archive on S3" if sinks else "Kafka topics only",
        "fresh_taskmanager": args.fresh_taskmanager,
        "warm_up_s": warm_up_s,
        "outage": args.outage,
        "load": "the generator, live" if args.live_generator else "pre-encoded readings, paced",
        "target_events_per_second": args.rate,
        "achieved_events_per_second": round(achieved),
        "job_submitted_to_tasks_running_s": round(started_s, 1),
        **_summary(alerts),
        "producer_max_ms": _producer_summary(producer_seconds),
        # Cores each service used while the load ran: on 2 shared cores, what the broker and the job compete for.
        "cpu_cores_during_load": {
            name: round((cpu_after[name] - cpu_before[name]) / load_seconds, 2) for name in cpu_after
        },
        "jobs_cancelled_first": cancelled,
    }
    shown = ("p50_ms", "p99_ms", "max_ms", "processing_p99_ms", "processing_max_ms", "first_minute_p99_ms")
    for key in (*shown, "after_first_minute_p99_ms", "stages_p99_ms", "producer_max_ms", "cpu_cores_during_load"):
        print(f"{key:>28}: {figures[key]}")
    return figures


def _load_suffix(args: argparse.Namespace) -> str:
    suffix = ("-warm-up" if args.warm_up else "") + ("-live-generator" if args.live_generator else "")
    return suffix + (f"-{args.label}" if args.label else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--anomaly-rate", type=float, default=0.003)
    parser.add_argument("--sinks", action="store_true", help="InfluxDB and the archive on, recorded apart")
    parser.add_argument("--rounds", type=int, default=0, help="alternate Kafka-only and --sinks runs this many times")
    parser.add_argument("--fresh-taskmanager", action="store_true", help="restart the TaskManager before each run")
    parser.add_argument(
        "--warm-up", action="store_true", help="run `gridctl warmup` before each run (after the restart, if any)"
    )
    parser.add_argument(
        "--outage", metavar="SERVICE:FROM:TO", help="stop a stack service (e.g. seaweedfs:30:75) during each run"
    )
    parser.add_argument(
        "--live-generator",
        action="store_true",
        help="generate and encode readings while producing (the generator CLI's way) instead of encoding them first",
    )
    parser.add_argument("--label", help="appended to the result's file name, e.g. fresh-stack")
    args = parser.parse_args()
    stack = StackConfig.from_env()
    measured = "the reading's gridpipe-produced-at (when the load sent it) to LogAppendTime of the alert"
    if not args.rounds:
        figures = run_once(stack, args, args.sinks)
        name = "detection-latency-with-sinks" if args.sinks else "detection-latency"
        if args.outage:
            name += "-outage-" + args.outage.split(":")[0]
        record(name + _load_suffix(args), {**figures, "bar_p99_ms": 100, "measured_from": measured})
        return
    runs = []
    for number in range(1, args.rounds + 1):
        for sinks in (False, True):
            print(f"=== round {number} of {args.rounds}, {'with' if sinks else 'without'} sinks", flush=True)
            runs.append({"round": number, **run_once(stack, args, sinks)})
    table = {
        mode: {
            "p99_ms": [r["p99_ms"] for r in runs if r["sinks"] == mode],
            "max_ms": [r["max_ms"] for r in runs if r["sinks"] == mode],
            "first_minute_p99_ms": [r["first_minute_p99_ms"] for r in runs if r["sinks"] == mode],
            "median_p99_ms": statistics.median(r["p99_ms"] for r in runs if r["sinks"] == mode),
        }
        for mode in {r["sinks"] for r in runs}
    }
    record(
        "detection-latency-rounds" + ("-fresh-taskmanager" if args.fresh_taskmanager else "") + _load_suffix(args),
        {"by_mode": table, "runs": runs, "bar_p99_ms": 100, "bar_max_ms": 500, "measured_from": measured},
    )


if __name__ == "__main__":
    main()
