"""A pipeline's schemas, InfluxDB bucket and S3 archive location, created before `gridctl run` submits it.

The same ``gridpipe_schemas.resources`` functions the operator uses on Kubernetes, with the endpoints and credentials
`gridctl` resolved (the local stack's), so one GridPipeline YAML gets the same resources in both places.
"""

from __future__ import annotations

from collections.abc import Callable

from gridpipe_schemas import resources
from gridpipe_schemas.endpoints import ServiceEndpoints
from gridpipe_schemas.errors import GridpipeError
from gridpipe_schemas.pipeline import GridPipeline

START_STACK = "start the stack with `gridctl stack up` (`gridctl stack status` shows what runs)"
READ_INFLUXDB_LOG = "read InfluxDB's log (`gridctl stack logs influxdb`)"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def ensure_schemas(pipeline: GridPipeline, endpoints: ServiceEndpoints) -> str:
    done = resources.register_schemas(pipeline, endpoints.registry_url)
    new = sum(1 for r in done if r.created)
    return (
        f"schemas: {len(done)} subjects in the registry at {endpoints.registry_url} (BACKWARD), {new} newly registered"
    )


def ensure_influxdb_bucket(pipeline: GridPipeline, endpoints: ServiceEndpoints) -> str:
    sink = pipeline.spec.sinks.influxdb
    influx = endpoints.influxdb
    connection = resources.InfluxConnection(influx.url, influx.org, influx.token)
    try:
        with resources.InfluxBuckets(connection) as buckets:
            what = buckets.ensure(sink.bucket, resources.retention_seconds(pipeline))
    except resources.InfluxUnreachable as error:
        raise GridpipeError(str(error), START_STACK) from error
    except resources.InfluxError as error:
        raise GridpipeError(str(error), READ_INFLUXDB_LOG) from error
    return f"InfluxDB bucket {sink.bucket} (retention {sink.retention}) at {influx.url}: {what}"


def ensure_archive_location(pipeline: GridPipeline, endpoints: ServiceEndpoints) -> str:
    archive = pipeline.spec.sinks.archive
    s3 = endpoints.s3
    location = f"s3://{archive.bucket}/{archive.prefix.strip('/')}".rstrip("/")
    try:
        filesystem = resources.s3_filesystem(
            resources.S3Connection(s3.endpoint, s3.access_key, s3.secret_key, s3.region)
        )
        what = resources.ensure_s3_location(filesystem, archive.bucket, archive.prefix)
    except OSError as error:
        failed = f"S3 at {s3.endpoint} failed for {location}: {_one_line(error)}"
        raise GridpipeError(failed, START_STACK) from error
    return f"archive location {location} at {s3.endpoint}: {what}"


def ensure_pipeline_resources(pipeline: GridPipeline, endpoints: ServiceEndpoints, echo: Callable[[str], None]) -> None:
    """Schemas; the InfluxDB bucket with the spec's retention (sink on); the archive bucket/prefix (archive on).

    One line each through ``echo``. Raises RegistryError or GridpipeError (one line: problem and fix)."""
    echo(ensure_schemas(pipeline, endpoints))
    if pipeline.spec.sinks.influxdb.enabled:
        echo(ensure_influxdb_bucket(pipeline, endpoints))
    if pipeline.spec.sinks.archive.enabled:
        echo(ensure_archive_location(pipeline, endpoints))
