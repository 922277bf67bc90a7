"""A pipeline's resources outside Kafka, through their real APIs: its schemas in the registry, its InfluxDB bucket
with the spec's retention, its S3 archive bucket and prefix.

One implementation for both ways of running a GridPipeline: the operator on Kubernetes (connections from a Secret)
and `gridctl run` locally (the stack's credentials), so the same YAML gets the same resources. Nothing here knows
where connections come from. Each ``ensure_*`` reads the live state first and changes only what differs, so calling
it again (a retry, a restart mid-reconcile, a second replica, a second `gridctl run`) has no further effect.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_schemas.registry import Registered, SchemaRegistry
from gridpipe_schemas.subjects import PipelineKind, PipelineTopics, subjects_for

TIMEOUT = 5.0


@dataclass(frozen=True)
class InfluxConnection:
    url: str
    org: str
    token: str

    def __repr__(self) -> str:
        return f"InfluxConnection(url={self.url!r}, org={self.org!r}, token=<hidden>)"


@dataclass(frozen=True)
class S3Connection:
    endpoint: str
    access_key: str
    secret_key: str
    region: str

    def __repr__(self) -> str:
        return f"S3Connection(endpoint={self.endpoint!r}, region={self.region!r}, keys=<hidden>)"


def register_schemas(pipeline: GridPipeline, registry_url: str, timeout: float = TIMEOUT) -> list[Registered]:
    """Register every subject of the pipeline's topics (BACKWARD); raises RegistryError naming problem and fix."""
    spec = pipeline.spec
    topics = PipelineTopics(spec.source.topic, spec.outputs.anomalies_topic, spec.outputs.dead_letter_topic)
    with SchemaRegistry(registry_url, timeout=timeout) as registry:
        return registry.register_all(subjects_for(PipelineKind(spec.profile), topics))


class InfluxError(Exception):
    pass


class InfluxUnreachable(InfluxError):
    """No answer at all (refused, reset, timed out), as opposed to an answer refusing the request."""


class InfluxBuckets:
    """InfluxDB 2 buckets over its HTTP API (``/api/v2/buckets``)."""

    def __init__(self, connection: InfluxConnection) -> None:
        self.connection = connection
        self._client = httpx.Client(
            base_url=connection.url.rstrip("/"),
            timeout=TIMEOUT,
            headers={"Authorization": f"Token {connection.token}"},
        )

    def __enter__(self) -> InfluxBuckets:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def _call(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            reason = type(error).__name__
            raise InfluxUnreachable(f"InfluxDB at {self.connection.url} is unreachable ({reason})") from error
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code >= 400:
            try:
                reason = response.json().get("message") or response.text
            except ValueError:
                reason = response.text
            raise InfluxError(f"InfluxDB refused {method} {path}: HTTP {response.status_code} {reason}")
        return response.json() if response.content else None

    def _org_id(self) -> str:
        orgs = self._call("GET", "/api/v2/orgs", params={"org": self.connection.org}).get("orgs") or []
        if not orgs:
            raise InfluxError(f"InfluxDB has no organisation {self.connection.org!r}; fix GRIDPIPE_INFLUXDB_ORG")
        return str(orgs[0]["id"])

    def find(self, name: str) -> dict[str, Any] | None:
        found = self._call("GET", "/api/v2/buckets", missing_ok=True, params={"name": name, "orgID": self._org_id()})
        buckets = (found or {}).get("buckets") or []
        return dict(buckets[0]) if buckets else None

    def ensure(self, name: str, retention_seconds: int) -> str:
        """Create the bucket, or set its retention; returns what was done."""
        rules = [{"type": "expire", "everySeconds": retention_seconds}]
        bucket = self.find(name)
        if bucket is None:
            self._call("POST", "/api/v2/buckets", json={"orgID": self._org_id(), "name": name, "retentionRules": rules})
            return "created"
        current = [r.get("everySeconds") for r in bucket.get("retentionRules") or []]
        if current != [retention_seconds]:
            self._call("PATCH", f"/api/v2/buckets/{bucket['id']}", json={"retentionRules": rules})
            return "retention updated"
        return "unchanged"

    def delete(self, name: str) -> bool:
        bucket = self.find(name)
        if bucket is None:
            return False
        self._call("DELETE", f"/api/v2/buckets/{bucket['id']}")
        return True


def retention_seconds(pipeline: GridPipeline) -> int:
    return pipeline.spec.sinks.influxdb.retention.ms // 1000


def s3_filesystem(connection: S3Connection) -> Any:
    """A pyarrow S3 filesystem that may create buckets but never delete them, failing fast when S3 is away."""
    from pyarrow import fs

    endpoint = urlsplit(connection.endpoint if "://" in connection.endpoint else f"http://{connection.endpoint}")
    return fs.S3FileSystem(
        access_key=connection.access_key,
        secret_key=connection.secret_key,
        region=connection.region,
        endpoint_override=endpoint.netloc,
        scheme=endpoint.scheme or "http",
        allow_bucket_creation=True,
        allow_bucket_deletion=False,
        connect_timeout=3,
        request_timeout=TIMEOUT,
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=2),
    )


def ensure_s3_location(filesystem: Any, bucket: str, prefix: str = "") -> str:
    """The bucket exists (created when not) and, with a prefix, a ``prefix/`` marker shows where data goes."""
    from pyarrow import fs

    path = f"{bucket}/{prefix.strip('/')}".rstrip("/")
    if filesystem.get_file_info(path).type != fs.FileType.NotFound:
        return "unchanged"
    filesystem.create_dir(path, recursive=True)
    return "created"


def archive_pipeline_prefix(prefix: str, pipeline: str) -> str:
    """Where one pipeline's archive lives in its bucket, ``[<prefix>/]<pipeline>``; its datasets are folders below."""
    return "/".join(p for p in (prefix.strip("/"), pipeline) if p)


def delete_s3_prefix(filesystem: Any, bucket: str, prefix: str) -> None:
    """Delete every object under ``bucket/prefix``. An empty prefix is refused: nothing here owns a whole bucket."""
    from pyarrow import fs

    if not prefix.strip("/"):
        raise ValueError(f"refusing to delete every object in bucket {bucket}: give the prefix to delete")
    path = f"{bucket}/{prefix.strip('/')}"
    if filesystem.get_file_info(path).type != fs.FileType.NotFound:
        # SeaweedFS may still list a folder whose objects were just deleted, then call it missing when deleted.
        with contextlib.suppress(FileNotFoundError):
            filesystem.delete_dir(path)
