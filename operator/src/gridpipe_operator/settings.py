"""The operator's own settings, from its environment (the Helm chart sets them from values.yaml)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gridpipe_operator.render import Platform

ENV_PREFIX = "GRIDPIPE_OPERATOR_"


class SettingsInvalid(ValueError):
    """An operator setting has a value it cannot use; the message names the variable and the fix."""


def _int(environ: dict[str, str], key: str, default: int, minimum: int) -> int:
    raw = environ.get(ENV_PREFIX + key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsInvalid(f"{ENV_PREFIX}{key}={raw!r} is not a whole number; set e.g. {default}") from None
    if value < minimum:
        raise SettingsInvalid(f"{ENV_PREFIX}{key}={value} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    connections_secret: str = "gridpipe-connections"  # noqa: S105 -- a Secret's name
    kafka_cluster: str = "gridpipe"
    topic_replicas: int = 3
    state_bucket: str = "gridpipe-state"
    flink_image: str = "gridpipe/flink-job:0.1.0"
    flink_release: str = "2.2.1"
    flink_service_account: str = "flink"
    resync_seconds: int = 300
    archive_observe_seconds: int = 30
    workers: int = 8

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ) if environ is None else environ
        defaults = cls()

        def text(key: str, default: str) -> str:
            return env.get(ENV_PREFIX + key) or default

        return cls(
            connections_secret=text("CONNECTIONS_SECRET", defaults.connections_secret),
            kafka_cluster=text("KAFKA_CLUSTER", defaults.kafka_cluster),
            topic_replicas=_int(env, "TOPIC_REPLICAS", defaults.topic_replicas, 1),
            state_bucket=text("STATE_BUCKET", defaults.state_bucket),
            flink_image=text("FLINK_IMAGE", defaults.flink_image),
            flink_release=text("FLINK_RELEASE", defaults.flink_release),
            flink_service_account=text("FLINK_SERVICE_ACCOUNT", defaults.flink_service_account),
            resync_seconds=_int(env, "RESYNC_SECONDS", defaults.resync_seconds, 5),
            archive_observe_seconds=_int(env, "ARCHIVE_OBSERVE_SECONDS", defaults.archive_observe_seconds, 1),
            workers=_int(env, "WORKERS", defaults.workers, 1),
        )

    def platform(self, *, bootstrap_servers: str, schema_registry_url: str, s3_endpoint: str) -> Platform:
        return Platform(
            bootstrap_servers=bootstrap_servers,
            schema_registry_url=schema_registry_url,
            s3_endpoint=s3_endpoint,
            connections_secret=self.connections_secret,
            kafka_cluster=self.kafka_cluster,
            topic_replicas=self.topic_replicas,
            state_bucket=self.state_bucket,
            flink_image=self.flink_image,
            flink_release=self.flink_release,
            flink_service_account=self.flink_service_account,
        )
