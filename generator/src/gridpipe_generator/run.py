"""Produce a simulated stream into Kafka at a held rate, count every delivery, and summarise."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gridpipe_generator.grid import GridSimulator
from gridpipe_generator.malformed import GridMalformer, RocketMalformer, as_malformed, broken_reading_schema
from gridpipe_generator.records import LABEL_HEADER, PRODUCED_AT_HEADER, SEQ_HEADER, GeneratedRecord, parse_label
from gridpipe_generator.rocket import RocketSimulator
from gridpipe_schemas.catalog import SchemaDoc, SchemaType, avro
from gridpipe_schemas.errors import GridpipeError
from gridpipe_schemas.registry import RegistryError, SchemaRegistry
from gridpipe_schemas.subjects import PipelineKind, value_subject
from gridpipe_schemas.topics import create_missing_topics

_BATCH = 2000
_PREFLIGHT_TIMEOUT = 5.0
BROKEN_READING_SUBJECT = "gridpipe-generator-broken-SensorReading"


class GeneratorError(Exception):
    """A problem the user can fix; ``str()`` is one line naming it and the fix."""


@dataclass(frozen=True)
class GeneratorConfig:
    profile: PipelineKind
    bootstrap: str
    registry_url: str
    topic: str
    event_rate: float
    duration: float | None = None
    count: int | None = None
    anomaly_rate: float = 0.001
    malformed_rate: float = 0.0
    meters: int = 10_000
    rockets: int = 3
    seed: int = 0
    start_ms: int | None = None
    partitions: int = 3
    linger_ms: float = 5.0


@dataclass
class RunSummary:
    target_rate: float
    sent: int = 0
    failed: int = 0
    elapsed: float = 0.0
    anomalies: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def achieved_rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed else 0.0

    def lines(self) -> list[str]:
        out = [
            f"sent {self.sent:,} records in {self.elapsed:.1f}s, failed {self.failed:,}; "
            f"achieved {self.achieved_rate:,.0f}/s"
            + (f" of {self.target_rate:,.0f}/s target" if self.target_rate else " (unthrottled)")
        ]
        if self.target_rate and self.elapsed > 1 and self.achieved_rate < 0.98 * self.target_rate:
            out.append("this machine could not reach the target rate; the achieved rate is the figure above")
        if self.anomalies:
            out.append("anomalies injected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.anomalies.items())))
        if self.malformed:
            out.append("malformed injected: " + ", ".join(f"{k} {v}" for k, v in sorted(self.malformed.items())))
        out.extend(f"delivery error: {e}" for e in self.errors[:5])
        return out


def _admin_check(bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=_PREFLIGHT_TIMEOUT)
    except Exception as exc:
        raise GeneratorError(
            f"Kafka at {bootstrap} is unreachable ({exc}) -- fix: start it (`gridctl stack up`) or pass the right "
            "--kafka-bootstrap-servers"
        ) from exc


def _registry_ids(cfg: GeneratorConfig) -> tuple[int, int]:
    """Register the reading schema (and, for malformed records, a broken variant); return both ids."""
    try:
        with SchemaRegistry(cfg.registry_url, timeout=_PREFLIGHT_TIMEOUT) as registry:
            reading = registry.register(value_subject(cfg.topic), avro("SensorReading"))
            broken_id = 0
            if cfg.malformed_rate > 0:
                broken = json.dumps(broken_reading_schema(avro("SensorReading").parsed))
                broken_id = registry.register(
                    BROKEN_READING_SUBJECT, SchemaDoc("SensorReading", SchemaType.AVRO, broken)
                ).schema_id
            return reading.schema_id, broken_id
    except RegistryError as exc:
        raise GeneratorError(str(exc)) from exc


def build_stream(
    cfg: GeneratorConfig, reading_schema_id: int = 0, broken_schema_id: int = 0
) -> Iterator[GeneratedRecord]:
    """The records a run produces, in order. Pure: the same config gives the same stream."""
    start_ms = cfg.start_ms if cfg.start_ms is not None else int(time.time() * 1000)
    nominal_rate = cfg.event_rate or (cfg.meters if cfg.profile is PipelineKind.GRID else 10.0 * cfg.rockets)
    choose = random.Random(cfg.seed ^ 0xBAD).random
    malform: Callable[[GeneratedRecord], GeneratedRecord]
    if cfg.profile is PipelineKind.GRID:
        source = GridSimulator(
            meters=cfg.meters,
            schema_id=reading_schema_id,
            seed=cfg.seed,
            anomaly_rate=cfg.anomaly_rate,
            start_ms=start_ms,
            events_per_second=nominal_rate,
        ).records()
        grid_malformer = GridMalformer(cfg.seed, avro("SensorReading").parsed, broken_schema_id)

        def malform(record: GeneratedRecord) -> GeneratedRecord:
            kind = grid_malformer.choose()
            return as_malformed(record, kind, grid_malformer.malform(record, kind))
    else:
        source = RocketSimulator(
            rockets=cfg.rockets,
            seed=cfg.seed,
            anomaly_rate=cfg.anomaly_rate,
            start_ms=start_ms,
            events_per_second=nominal_rate,
        ).records()
        rocket_malformer = RocketMalformer(cfg.seed)

        def malform(record: GeneratedRecord) -> GeneratedRecord:
            kind = rocket_malformer.choose()
            return as_malformed(record, kind, rocket_malformer.malform(record, kind))

    for record in source:
        yield malform(record) if cfg.malformed_rate and choose() < cfg.malformed_rate else record


class Generator:
    def __init__(self, cfg: GeneratorConfig, progress: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))

    def preflight(self) -> tuple[int, int]:
        _admin_check(self.cfg.bootstrap)
        try:
            create_missing_topics(self.cfg.bootstrap, {self.cfg.topic: (self.cfg.partitions, {})})
        except GridpipeError as exc:
            raise GeneratorError(str(exc)) from exc
        return _registry_ids(self.cfg) if self.cfg.profile is PipelineKind.GRID else (0, 0)

    def _producer(self) -> Any:
        from confluent_kafka import Producer

        return Producer(
            {
                "bootstrap.servers": self.cfg.bootstrap,
                "enable.idempotence": True,
                "linger.ms": self.cfg.linger_ms,
                "batch.size": 1_000_000,
                "compression.type": "lz4",
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                "message.timeout.ms": 30_000,
                "log_level": 3,
            }
        )

    def run(self, stop: threading.Event | None = None) -> RunSummary:
        cfg = self.cfg
        stop = stop or threading.Event()
        reading_id, broken_id = self.preflight()
        producer = self._producer()
        summary = RunSummary(target_rate=cfg.event_rate)

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                summary.failed += 1
                if len(summary.errors) < 5:
                    summary.errors.append(str(err))

        stream = build_stream(cfg, reading_id, broken_id)
        produce, poll = producer.produce, producer.poll
        topic = cfg.topic
        produced = 0
        began = time.monotonic()
        next_report = began + 5.0
        limit = cfg.count if cfg.count is not None else sys.maxsize
        deadline = began + cfg.duration if cfg.duration else float("inf")
        while not stop.is_set() and produced < limit:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_report:
                self.progress(f"… {produced:,} sent, {produced / (now - began):,.0f}/s, {summary.failed} failed")
                next_report += 5.0
            batch = min(_BATCH, limit - produced)
            if cfg.event_rate:
                due = int((now - began) * cfg.event_rate) + 1
                if produced >= due:
                    time.sleep(min(0.005, (produced - due + 1) / cfg.event_rate))
                    continue
                batch = min(batch, due - produced)
            for _ in range(batch):
                record = next(stream)
                headers = [
                    (LABEL_HEADER, record.label),
                    (SEQ_HEADER, str(produced)),
                    (PRODUCED_AT_HEADER, str(time.time_ns() // 1000)),
                ]
                while True:
                    try:
                        produce(topic, record.value, record.key, headers=headers, on_delivery=delivered)
                        break
                    except BufferError:
                        poll(0.05)
                produced += 1
                category, kinds = parse_label(record.label) if record.label != "normal" else ("normal", [])
                if category == "anomaly":
                    summary.anomalies.update(kinds)
                elif category == "malformed":
                    summary.malformed.update(kinds)
            poll(0)
        self.progress("flushing…")
        undelivered = producer.flush(30)
        summary.elapsed = time.monotonic() - began
        summary.failed += undelivered
        summary.sent = produced - summary.failed
        return summary
