"""Create the Kafka topics that are missing; one place for every package that needs topics to exist."""

from __future__ import annotations

from gridpipe_stack.errors import StackError

TopicSpec = tuple[int, dict[str, str]]  # partitions, topic configuration


def create_missing_topics(bootstrap: str, wanted: dict[str, TopicSpec], timeout: float = 15.0) -> list[str]:
    """Create each topic of ``wanted`` that the broker lacks (replication 1); return the names created."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except Exception as exc:
        raise StackError(
            f"Kafka at {bootstrap} is unreachable ({exc})",
            "start it (`gridctl stack up`) or point at the right bootstrap servers",
        ) from exc
    missing = [
        NewTopic(name, num_partitions=partitions, replication_factor=1, config=config)
        for name, (partitions, config) in wanted.items()
        if name not in existing
    ]
    if not missing:
        return []
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise StackError(f"could not create topic {name}: {exc}", "read the Kafka log") from exc
    return [t.topic for t in missing]


def delete_topics(bootstrap: str, names: list[str], timeout: float = 15.0) -> list[str]:
    """Delete the named topics that exist; return the names deleted."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    existing = admin.list_topics(timeout=timeout).topics
    doomed = [name for name in names if name in existing]
    if not doomed:
        return []
    for name, future in admin.delete_topics(doomed, operation_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:
            raise StackError(f"could not delete topic {name}: {exc}", "read the Kafka log") from exc
    return doomed
