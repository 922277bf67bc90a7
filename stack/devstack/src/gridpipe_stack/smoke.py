"""The smoke pipeline: Avro readings through the registry into Kafka, through a Flink SQL job, and back.

It proves the wiring every real pipeline relies on: confluent-kafka's Avro serializer against Apicurio's
Confluent-compatible API, Flink's kafka connector with the avro-confluent format, and Kafka on both ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gridpipe_jobs.flinkrest import running_job_id
from gridpipe_schemas.topics import create_missing_topics
from gridpipe_stack.config import StackConfig
from gridpipe_stack.errors import StackError
from gridpipe_stack.flinksql import submit_sql

READING_SCHEMA = """{
  "type": "record", "name": "SmokeReading", "namespace": "io.gridpipe.smoke",
  "fields": [
    {"name": "meter_id", "type": "string"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "voltage", "type": "double"}
  ]
}"""


@dataclass(frozen=True)
class SmokeTopics:
    source: str = "smoke-readings"
    sink: str = "smoke-readings-flagged"


def _registry(cfg: StackConfig) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient({"url": cfg.registry_url})


def create_topics(cfg: StackConfig, *names: str, partitions: int = 1) -> None:
    create_missing_topics(cfg.kafka_bootstrap, {name: (partitions, {}) for name in names})


def produce_readings(cfg: StackConfig, topic: str, readings: list[dict[str, Any]]) -> int:
    """Produce Avro records in the Confluent wire format; return the schema id the registry assigned."""
    from confluent_kafka import Producer
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    serializer = AvroSerializer(_registry(cfg), READING_SCHEMA)
    producer = Producer({"bootstrap.servers": cfg.kafka_bootstrap, "enable.idempotence": True})
    failures: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for reading in readings:
        value = serializer(reading, SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=reading["meter_id"].encode(), value=value, on_delivery=on_delivery)
    if producer.flush(30) != 0 or failures:
        raise StackError(f"{len(failures)} record(s) not delivered to {topic}: {failures[:3]}", "check the Kafka log")
    return int(_registry(cfg).get_latest_version(f"{topic}-value").schema_id)


def end_offsets(cfg: StackConfig, topic: str) -> dict[int, int]:
    """The next offset of every partition of ``topic``: where records produced from now on will land."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": cfg.kafka_bootstrap, "group.id": "gridpipe-offsets"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def consume_avro(
    cfg: StackConfig, topic: str, count: int, timeout: float = 60, start: dict[int, int] | None = None
) -> Iterator[dict[str, Any]]:
    """Decode ``count`` records of ``topic``, from ``start`` offsets per partition or else from the beginning."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    deserializer = AvroDeserializer(_registry(cfg))
    consumer = Consumer(
        {"bootstrap.servers": cfg.kafka_bootstrap, "group.id": f"smoke-{time.time_ns()}", "enable.auto.commit": False}
    )
    offsets = (
        start
        if start is not None
        else {p: OFFSET_BEGINNING for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions}
    )
    consumer.assign([TopicPartition(topic, p, o) for p, o in offsets.items()])
    deadline = time.monotonic() + timeout
    seen = 0
    try:
        while seen < count:
            if time.monotonic() > deadline:
                raise StackError(
                    f"read {seen} of {count} records from {topic} in {timeout:.0f}s",
                    "check the Flink job's exceptions in the Flink UI",
                )
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            seen += 1
            yield deserializer(message.value(), SerializationContext(topic, MessageField.VALUE))
    finally:
        consumer.close()


def flag_job_sql(cfg: StackConfig, topics: SmokeTopics, threshold: float = 250.0) -> tuple[list[str], str]:
    """Flink SQL that reads readings, flags those above ``threshold`` volts, and writes them out."""

    def table(name: str, topic: str, columns: str, extra: str = "") -> str:
        return (
            f"CREATE TEMPORARY TABLE {name} ({columns}) WITH ("
            f"'connector'='kafka', 'topic'='{topic}', 'properties.bootstrap.servers'='{cfg.kafka_bootstrap}',"
            f"'value.format'='avro-confluent', 'value.avro-confluent.url'='{cfg.registry_url}'{extra})"
        )

    ddl = [
        table(
            "readings",
            topics.source,
            "meter_id STRING NOT NULL, ts TIMESTAMP(3) NOT NULL, voltage DOUBLE NOT NULL",
            ", 'scan.startup.mode'='earliest-offset', 'properties.group.id'='gridpipe-smoke'",
        ),
        table(
            "flagged",
            topics.sink,
            "meter_id STRING NOT NULL, ts TIMESTAMP(3) NOT NULL, voltage DOUBLE NOT NULL, high BOOLEAN NOT NULL",
        ),
    ]
    insert = f"INSERT INTO flagged SELECT meter_id, ts, voltage, voltage > {threshold} FROM readings"  # noqa: S608 - a float and our own table names
    return ddl, insert


def run_smoke_job(cfg: StackConfig, topics: SmokeTopics = SmokeTopics()) -> str:
    """Submit the smoke job unless it already runs; return its job id."""
    name = f"gridpipe-smoke-{topics.source}"
    if existing := running_job_id(cfg.flink_url, name):
        return existing
    create_topics(cfg, topics.source, topics.sink)
    ddl, insert = flag_job_sql(cfg, topics)
    return submit_sql(cfg, ddl, insert, job_name=name)


def sample_readings(count: int, start_ms: int | None = None) -> list[dict[str, Any]]:
    """Readings around 230 V where every tenth is a 280 V surge the job must flag."""
    start_ms = start_ms if start_ms is not None else int(time.time() * 1000)
    return [
        {
            "meter_id": f"meter-{i % 10:03d}",
            "ts": start_ms + i,
            "voltage": 280.0 if i % 10 == 9 else 230.0 + (i % 7) / 10,
        }
        for i in range(count)
    ]
