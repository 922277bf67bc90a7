"""The Kafka topics a pipeline reads and writes, created when missing (locally; Strimzi does it on Kubernetes)."""

from __future__ import annotations

from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_schemas.topics import TopicSpec, create_missing_topics


def wanted_topics(pipeline: GridPipeline) -> dict[str, TopicSpec]:
    """topic -> (partitions, config) for the source, anomalies and dead-letter topics."""
    spec = pipeline.spec
    retention = {"retention.ms": str(spec.outputs.retention.ms)}
    return {
        spec.source.topic: (spec.source.partitions, {}),
        spec.outputs.anomalies_topic: (spec.outputs.partitions, retention),
        spec.outputs.dead_letter_topic: (spec.outputs.partitions, retention),
    }


def ensure_topics(pipeline: GridPipeline, bootstrap: str, timeout: float = 15.0) -> list[str]:
    """Create the pipeline's missing topics; return the names created."""
    return create_missing_topics(bootstrap, wanted_topics(pipeline), timeout)


def source_progress(pipeline: GridPipeline, bootstrap: str, timeout: float = 10.0) -> tuple[int, dict[str, int]]:
    """The records in the pipeline's source topic, and how many of them each of the job's consumer groups (the alert
    path's, and the archive's when it is on) has committed: the job commits its offsets when a checkpoint completes."""
    from confluent_kafka import Consumer, TopicPartition

    topic, name = pipeline.spec.source.topic, pipeline.metadata.name
    groups = [f"gridpipe-{name}"] + ([f"gridpipe-{name}-archive"] if pipeline.spec.sinks.archive.enabled else [])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": groups[0]})
    try:
        found = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        partitions = [TopicPartition(topic, p) for p in found]
        total = sum(consumer.get_watermark_offsets(tp, timeout=timeout)[1] for tp in partitions)
    finally:
        consumer.close()
    committed: dict[str, int] = {}
    for group in groups:
        reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        try:
            committed[group] = sum(max(o.offset, 0) for o in reader.committed(partitions, timeout=timeout))
        finally:
            reader.close()
    return total, committed
