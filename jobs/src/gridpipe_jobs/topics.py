"""The Kafka topics a pipeline reads and writes, created when missing (locally; Strimzi does it on Kubernetes)."""

from __future__ import annotations

from gridpipe_schemas.pipeline import GridPipeline, duration_ms


class TopicError(RuntimeError):
    """A topic could not be created; ``str()`` names the problem and the fix."""


def wanted_topics(pipeline: GridPipeline) -> dict[str, tuple[int, dict[str, str]]]:
    """topic -> (partitions, config) for the source, anomalies and dead-letter topics."""
    spec = pipeline.spec
    retention = {"retention.ms": str(duration_ms(spec.outputs.retention))}
    return {
        spec.source.topic: (spec.source.partitions, {}),
        spec.outputs.anomalies_topic: (spec.outputs.partitions, retention),
        spec.outputs.dead_letter_topic: (spec.outputs.partitions, retention),
    }


def ensure_topics(pipeline: GridPipeline, bootstrap: str, timeout: float = 15.0) -> list[str]:
    """Create the pipeline's missing topics; return the names created."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except Exception as exc:
        raise TopicError(f"Kafka at {bootstrap} is unreachable ({exc}) -- fix: `gridctl stack up`") from exc
    missing = [
        NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)
        for name, (partitions, config) in wanted_topics(pipeline).items()
        if name not in existing
    ]
    if not missing:
        return []
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise TopicError(f"could not create topic {name}: {exc} -- fix: read the Kafka log") from exc
    return [t.topic for t in missing]
