"""Grid readings encoded before a run and produced during it at a steady rate.

The live generator encodes Avro in Python while it produces, which takes most of a core at 10,000 readings/s: on
this 2-core machine it then competes with the pipeline it is measuring, and its own queueing shows up as latency.
An operator's meters do not run on the pipeline's cores, so the latency benchmarks encode the readings first and
during the run only hand them to librdkafka, a few per cent of a core. Each reading is stamped with the moment it is
sent (the ``gridpipe-produced-at`` header), which is where its latency starts.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from gridpipe_generator.records import PRODUCED_AT_HEADER
from gridpipe_generator.run import Generator, GeneratorConfig, build_stream


@dataclass
class EncodedLoad:
    cfg: GeneratorConfig
    records: list[Any]
    first_event_at: float
    """The first reading's event time, epoch seconds; the readings follow at the configured rate."""
    producer_seconds: list[dict[str, float]] = field(default_factory=list)
    """Per second of the replay, librdkafka's own view of the way to the broker: the slowest message's wait in the
    producer's queue (``queue_ms``), its request's wait to be written to the socket (``send_ms``) and the slowest
    request's round trip to the broker and back (``round_trip_ms``)."""


def encode_ahead(cfg: GeneratorConfig, lead_s: float = 5.0) -> EncodedLoad:
    """Encode the run's readings. Their event times start when encoding is expected to end, plus ``lead_s``."""
    ids = Generator(cfg).preflight()
    total = int(cfg.event_rate * (cfg.duration or 0))
    sample = 20_000
    began = time.monotonic()
    list(itertools.islice(build_stream(replace(cfg, start_ms=0), *ids), sample))
    per_record = (time.monotonic() - began) / sample
    first_event_at = time.time() + per_record * total * 1.5 + lead_s
    print(f"encoding {total:,} readings ahead (about {per_record * total:.0f} s)…", flush=True)
    stream = build_stream(replace(cfg, start_ms=int(first_event_at * 1000)), *ids)
    return EncodedLoad(cfg, list(itertools.islice(stream, total)), first_event_at)


def replay_paced(load: EncodedLoad, start_at: float | None = None) -> float:
    """Produce the readings at the configured rate from ``start_at`` (default: now); returns the achieved rate.

    The list is cleared once everything is sent, so the memory it held is returned by the end of the run.
    """
    from confluent_kafka import Producer

    cfg = load.cfg

    def on_statistics(raw: str) -> None:
        brokers = [b for b in json.loads(raw)["brokers"].values() if b["rtt"]["cnt"] > 0]
        if brokers:
            load.producer_seconds.append(
                {
                    "at_s": round(time.monotonic() - began, 1),
                    "queue_ms": max(b["int_latency"]["max"] for b in brokers) / 1000,
                    "send_ms": max(b["outbuf_latency"]["max"] for b in brokers) / 1000,
                    "round_trip_ms": max(b["rtt"]["max"] for b in brokers) / 1000,
                }
            )

    producer = Producer(
        {
            "bootstrap.servers": cfg.bootstrap,
            "linger.ms": cfg.linger_ms,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
            "log_level": 3,
            "statistics.interval.ms": 1000,
            "stats_cb": on_statistics,
        }
    )
    if start_at is not None:
        time.sleep(max(0.0, start_at - time.time()))
    records, rate, sent = load.records, cfg.event_rate, 0
    produce, topic = producer.produce, cfg.topic
    began = next_report = time.monotonic()
    while sent < len(records):
        due = min(len(records), int((time.monotonic() - began) * rate) + 1)
        if sent >= due:
            time.sleep(0.001)
            continue
        for reading in records[sent:due]:
            produce(topic, reading.value, reading.key, headers=[(PRODUCED_AT_HEADER, str(time.time_ns() // 1000))])
        sent = due
        producer.poll(0)
        if time.monotonic() >= next_report:
            print(f"… {sent:,} sent, {sent / max(time.monotonic() - began, 1e-9):,.0f}/s", flush=True)
            next_report += 5.0
    elapsed = time.monotonic() - began
    producer.flush(30)
    load.records.clear()
    return sent / elapsed
