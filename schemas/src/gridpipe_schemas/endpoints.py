"""Where gridpipe's services are: the connection settings product code receives instead of knowing any stack.

Commands get a ``ServiceEndpoints`` at the edge. Whoever hosts them (the local developer stack's `gridctl`)
registers a resolver under the ``gridpipe.endpoints`` entry-point group; ``resolve_endpoints`` asks it. Secrets stay
out of ``repr`` so they never reach tracebacks or logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Protocol

from gridpipe_schemas.errors import GridpipeError

RESOLVER_GROUP = "gridpipe.endpoints"


@dataclass(frozen=True)
class InfluxSettings:
    url: str
    org: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class S3Settings:
    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"


@dataclass(frozen=True)
class ServiceEndpoints:
    kafka_bootstrap: str
    registry_url: str  # the Confluent-compatible API, which confluent-kafka and Flink's avro-confluent speak
    flink_url: str
    prometheus_url: str
    influxdb: InfluxSettings
    s3: S3Settings


class EndpointsResolver(Protocol):
    def __call__(self) -> ServiceEndpoints: ...


def resolve_endpoints() -> ServiceEndpoints:
    """The endpoints of the registered resolver (the local stack's when gridpipe-cli is installed)."""
    resolvers = entry_points(group=RESOLVER_GROUP)
    if not resolvers:
        raise GridpipeError(
            "no service endpoints are configured: nothing registers a `gridpipe.endpoints` resolver",
            "pass the endpoints as options, or install gridpipe-cli, which resolves the local stack's",
        )
    resolver: EndpointsResolver = next(iter(resolvers)).load()
    return resolver()
