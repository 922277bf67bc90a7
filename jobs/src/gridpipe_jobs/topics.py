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


class SourceProgress:
    """How far the pipeline's job has got through its source topic, as Kafka sees it: ``read()`` gives the records in
    the topic and how many of them each of the job's consumer groups (the alert path's, and the archive's when it is
    on) has committed; the job commits its offsets when a checkpoint completes. One consumer per group stays open
    between reads: use it as a context manager."""

    def __init__(self, pipeline: GridPipeline, bootstrap: str, timeout: float = 10.0) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.topic, name = pipeline.spec.source.topic, pipeline.metadata.name
        self.timeout = timeout
        groups = [f"gridpipe-{name}"] + ([f"gridpipe-{name}-archive"] if pipeline.spec.sinks.archive.enabled else [])
        self.consumers = {group: Consumer({"bootstrap.servers": bootstrap, "group.id": group}) for group in groups}
        try:
            found = self.consumers[groups[0]].list_topics(self.topic, timeout=timeout).topics[self.topic].partitions
        except BaseException:
            self.close()
            raise
        self.partitions = [TopicPartition(self.topic, p) for p in found]

    def read(self) -> tuple[int, dict[str, int]]:
        first = next(iter(self.consumers.values()))
        total = sum(first.get_watermark_offsets(tp, timeout=self.timeout)[1] for tp in self.partitions)
        committed = {
            group: sum(max(o.offset, 0) for o in consumer.committed(self.partitions, timeout=self.timeout))
            for group, consumer in self.consumers.items()
        }
        return total, committed

    def close(self) -> None:
        for consumer in self.consumers.values():
            consumer.close()

    def __enter__(self) -> SourceProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
