"""The local stack's services as the ServiceEndpoints product commands receive."""

from __future__ import annotations

from gridpipe_schemas.endpoints import InfluxSettings, S3Settings, ServiceEndpoints
from gridpipe_stack import credentials
from gridpipe_stack.config import StackConfig


def stack_endpoints(cfg: StackConfig) -> ServiceEndpoints:
    influx = credentials.influxdb(cfg)
    s3 = credentials.s3(cfg)
    return ServiceEndpoints(
        kafka_bootstrap=cfg.kafka_bootstrap,
        registry_url=cfg.registry_url,
        flink_url=cfg.flink_url,
        prometheus_url=cfg.prometheus_url,
        influxdb=InfluxSettings(influx.url, influx.org, influx.token),
        s3=S3Settings(s3.endpoint, s3.access_key, s3.secret_key, s3.region),
    )


def local_stack_endpoints() -> ServiceEndpoints:
    """The resolver gridctl registers: the stack GRIDPIPE_STACK, GRIDPIPE_PORT_BASE and GRIDPIPE_RUN_DIR describe."""
    return stack_endpoints(StackConfig.from_env())
