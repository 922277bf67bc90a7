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
