"""Generator throughput: grid profile, Avro, one process, unthrottled, into the real local Kafka.

Goal (issue 3): >= 100,000 events/s sustained. Also splits the per-record cost between making a record
(simulation + Avro encoding) and handing it to librdkafka, to say where the time goes.

Run with the dev stack up:  uv run python bench/generator_throughput.py [--events 5000000]
"""

from __future__ import annotations

import argparse
import itertools
import time
import uuid

from common import record

from gridpipe_generator.run import Generator, GeneratorConfig, build_stream
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000_000)
    args = parser.parse_args()
    stack = StackConfig.from_env()
    cfg = GeneratorConfig(
        PipelineKind.GRID,
        stack.kafka_bootstrap,
        stack.registry_url,
        f"bench-generator-{uuid.uuid4().hex[:6]}",
        event_rate=0,
        count=args.events,
        anomaly_rate=0.001,
        meters=10_000,
        partitions=3,
    )

    sample = 500_000
    began = time.perf_counter()
    for _ in itertools.islice(build_stream(cfg, 1, 0), sample):
        pass
    make_us = (time.perf_counter() - began) / sample * 1e6

    summary = Generator(cfg, progress=lambda line: print(line, flush=True)).run()
    total_us = 1e6 / summary.achieved_rate
    record(
        "generator-throughput",
        {
            "events": summary.sent,
            "failed": summary.failed,
            "seconds": round(summary.elapsed, 2),
            "events_per_second": round(summary.achieved_rate),
            "goal_events_per_second": 100_000,
            "make_record_us": round(make_us, 2),
            "produce_and_rest_us": round(total_us - make_us, 2),
            "topic_partitions": cfg.partitions,
        },
    )


if __name__ == "__main__":
    main()
