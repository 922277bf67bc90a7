"""Endpoints and credentials of the services a pipeline uses, read from a Secret in the pipeline's namespace.

They never come from the GridPipeline spec: a pipeline author names buckets and topics, the platform decides where
they live and who may write them. The same Secret is referenced by the Flink pods' environment.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from gridpipe_schemas.resources import InfluxConnection, S3Connection

REQUIRED_KEYS = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "SCHEMA_REGISTRY_URL",
    "S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
)
INFLUX_KEYS = ("GRIDPIPE_INFLUXDB_URL", "GRIDPIPE_INFLUXDB_ORG", "GRIDPIPE_INFLUXDB_TOKEN")


class ConnectionsInvalid(ValueError):
    """The connections Secret is missing or lacks keys; the message names the Secret, the keys and the fix."""


@dataclass(frozen=True)
class Connections:
    bootstrap_servers: str
    schema_registry_url: str
    s3: S3Connection
    influxdb: InfluxConnection | None


def decode_secret_data(data: Mapping[str, str] | None) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (data or {}).items()}


def connections_from(values: Mapping[str, str], where: str) -> Connections:
    """Connections from a Secret's decoded data; ``where`` (namespace/name) is named in errors."""
    missing = [key for key in REQUIRED_KEYS if not values.get(key)]
    if missing:
        namespace, _, name = where.partition("/")
        raise ConnectionsInvalid(
            f"Secret {where} lacks {', '.join(missing)} -- fix: add them "
            f"(kubectl -n {namespace} create secret generic {name} --from-literal=KEY=VALUE ...)"
        )
    influx = None
    if all(values.get(key) for key in INFLUX_KEYS):
        influx = InfluxConnection(*(values[key] for key in INFLUX_KEYS))
    return Connections(
        bootstrap_servers=values["KAFKA_BOOTSTRAP_SERVERS"],
        schema_registry_url=values["SCHEMA_REGISTRY_URL"],
        s3=S3Connection(
            endpoint=values["S3_ENDPOINT"],
            access_key=values["AWS_ACCESS_KEY_ID"],
            secret_key=values["AWS_SECRET_ACCESS_KEY"],
            region=values.get("AWS_REGION") or "us-east-1",
        ),
        influxdb=influx,
    )
