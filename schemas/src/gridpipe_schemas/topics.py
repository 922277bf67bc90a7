"""Create the Kafka topics that are missing, and delete topics; one place for every package that manages topics.

Needs confluent-kafka: the ``kafka`` extra of gridpipe-schemas (the operator leaves topics to Strimzi and does without).
"""

from __future__ import annotations

from typing import Any

from gridpipe_schemas.errors import GridpipeError

TopicSpec = tuple[int, dict[str, str]]  # partitions, topic configuration


def create_missing_topics(bootstrap: str, wanted: dict[str, TopicSpec], timeout: float = 15.0) -> list[str]:
    """Create each topic of ``wanted`` that the broker lacks (replication 1); return the names created."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except Exception as exc:
        raise GridpipeError(
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
    _await(admin.create_topics(missing, operation_timeout=timeout), "create", timeout, tolerated="TOPIC_ALREADY_EXISTS")
    return [t.topic for t in missing]


def delete_topics(bootstrap: str, names: list[str], timeout: float = 15.0) -> list[str]:
    """Delete the named topics that exist; return the names deleted."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    existing = admin.list_topics(timeout=timeout).topics
    doomed = [name for name in names if name in existing]
    if not doomed:
        return []
    _await(admin.delete_topics(doomed, operation_timeout=timeout), "delete", timeout)
    return doomed


def _await(futures: dict[str, Any], verb: str, timeout: float, tolerated: str | None = None) -> None:
    """Wait for each topic operation; fail on the first error that is not the ``tolerated`` one."""
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except Exception as exc:
            if tolerated is None or tolerated not in str(exc):
                raise GridpipeError(f"could not {verb} topic {name}: {exc}", "read the Kafka log") from exc
