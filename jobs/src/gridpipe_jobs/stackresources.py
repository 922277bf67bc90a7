"""A pipeline's schemas, InfluxDB bucket and S3 archive location in the local stack, before `gridctl run` submits it.

The same ``gridpipe_schemas.resources`` functions the operator uses on Kubernetes, with the local stack's
credentials, so one GridPipeline YAML gets the same resources in both places.
"""

from __future__ import annotations

from collections.abc import Callable

from gridpipe_schemas import resources
from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_stack import credentials
from gridpipe_stack.config import StackConfig
from gridpipe_stack.errors import StackError

START_STACK = "start the stack with `gridctl stack up` (`gridctl stack status` shows what runs)"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def ensure_schemas(pipeline: GridPipeline, cfg: StackConfig) -> str:
    done = resources.register_schemas(pipeline, cfg.registry_url)
    new = sum(1 for r in done if r.created)
    return f"schemas: {len(done)} subjects in the registry at {cfg.registry_url} (BACKWARD), {new} newly registered"


def ensure_influxdb_bucket(pipeline: GridPipeline, cfg: StackConfig) -> str:
    sink = pipeline.spec.sinks.influxdb
    stored = credentials.influxdb(cfg)
    connection = resources.InfluxConnection(stored.url, stored.org, stored.token)
    try:
        with resources.InfluxBuckets(connection) as influx:
            what = influx.ensure(sink.bucket, resources.retention_seconds(pipeline))
    except resources.InfluxUnreachable as error:
        raise StackError(str(error), START_STACK) from error
    except resources.InfluxError as error:
        raise StackError(str(error), f"read {cfg.logs_dir / 'influxdb.log'}") from error
    return f"InfluxDB bucket {sink.bucket} (retention {sink.retention}) at {stored.url}: {what}"


def ensure_archive_location(pipeline: GridPipeline, cfg: StackConfig) -> str:
    archive = pipeline.spec.sinks.archive
    stored = credentials.s3(cfg)
    location = f"s3://{archive.bucket}/{archive.prefix.strip('/')}".rstrip("/")
    try:
        filesystem = resources.s3_filesystem(
            resources.S3Connection(stored.endpoint, stored.access_key, stored.secret_key, stored.region)
        )
        what = resources.ensure_s3_location(filesystem, archive.bucket, archive.prefix)
    except OSError as error:
        raise StackError(f"S3 at {stored.endpoint} failed for {location}: {_one_line(error)}", START_STACK) from error
    return f"archive location {location} at {stored.endpoint}: {what}"


def ensure_local_resources(pipeline: GridPipeline, cfg: StackConfig, echo: Callable[[str], None]) -> None:
    """Schemas; the InfluxDB bucket with the spec's retention (sink on); the archive bucket/prefix (archive on).

    One line each through ``echo``. Raises RegistryError or StackError (one line: problem and fix)."""
    echo(ensure_schemas(pipeline, cfg))
    if pipeline.spec.sinks.influxdb.enabled:
        echo(ensure_influxdb_bucket(pipeline, cfg))
    if pipeline.spec.sinks.archive.enabled:
        echo(ensure_archive_location(pipeline, cfg))
