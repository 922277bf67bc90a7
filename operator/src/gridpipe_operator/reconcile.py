"""The reconcile loop's domain logic, free of kopf: read the live pipeline, apply its rendered children, ensure its
external resources, observe, and write the status computed from what was observed.

Level-triggered: whatever woke it (a spec change, a child edited or deleted, a child's status, a periodic resync),
a reconcile looks at the whole current state and makes it so. Running it twice changes nothing the second time.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gridpipe_operator import external
from gridpipe_operator.connections import Connections, ConnectionsInvalid, connections_from, decode_secret_data
from gridpipe_operator.kube import Kube, api_message
from gridpipe_operator.render import (
    FLINK_API,
    TOPIC_API,
    Child,
    Owner,
    flink_deployment_name,
    render_children,
    state_prefix,
    topic_child_name,
    topic_roles,
)
from gridpipe_operator.settings import Settings
from gridpipe_operator.status import Observed, Outcome, blocked_status, recorded_outcome, same_status, status_for
from gridpipe_schemas.pipeline import GridPipeline, PipelineInvalid, parse_pipeline

log = logging.getLogger("gridpipe_operator.reconcile")
TOPIC = TOPIC_API[:3]
FLINK = FLINK_API[:3]


External = Literal["check", "if-unsettled", "reuse"]


class RetryLater(Exception):
    """The pipeline is not yet as specified; reconcile again after ``delay`` seconds."""

    def __init__(self, message: str, delay: float = 10.0) -> None:
        super().__init__(message)
        self.delay = delay


class Unreconcilable(Exception):
    """Retrying cannot help (an invalid spec); the status says why."""


@dataclass(frozen=True)
class Operator:
    """What a reconcile needs: the API and the settings."""

    kube: Kube
    settings: Settings
    namespaces: tuple[str, ...] = ()  # watched namespaces; () = the whole cluster
    # (kind, namespace, name) -> resourceVersion our last apply returned: watch events that echo it are skipped
    applied_versions: dict[tuple[str, str, str], str] = field(default_factory=dict)


_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()


def _pipeline_lock(namespace: str, name: str) -> threading.Lock:
    with _locks_guard:
        return _locks[(namespace, name)]


def pipeline_of(body: dict[str, Any]) -> GridPipeline:
    """The pipeline definition of a live object (its spec and name; status and server fields are not part of it)."""
    meta = body["metadata"]
    document = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
        "spec": body.get("spec"),
    }
    return parse_pipeline(document, f"GridPipeline {meta.get('namespace')}/{meta['name']}")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_of(body: dict[str, Any]) -> Owner:
    meta = body["metadata"]
    return Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def read_connections(op: Operator, namespace: str) -> Connections:
    secret = op.settings.connections_secret
    data = op.kube.secret_data(namespace, secret)
    if data is None:
        raise ConnectionsInvalid(
            f"Secret {namespace}/{secret} not found -- fix: create it with the endpoints and credentials of Kafka, "
            "the schema registry, S3 and InfluxDB (see docs/operator.md, 'Connections')"
        )
    return connections_from(decode_secret_data(data), f"{namespace}/{secret}")


def _write_status_if_changed(op: Operator, body: dict[str, Any], status: dict[str, Any]) -> bool:
    meta = body["metadata"]
    if same_status(body.get("status"), status):
        return False
    op.kube.write_status(meta["namespace"], meta["name"], status)
    return True


def _apply_all(op: Operator, children: list[Child]) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
    live: dict[str, dict[str, Any] | None] = {}
    errors: list[str] = []
    for child in children:
        try:
            applied = op.kube.apply(child)
            live[f"{child.kind}/{child.name}"] = applied
            key = (child.kind, child.body["metadata"]["namespace"], child.name)
            op.applied_versions[key] = applied["metadata"]["resourceVersion"]
        except Exception as error:  # every API refusal becomes a condition message, then a retry
            live[f"{child.kind}/{child.name}"] = None
            errors.append(f"{child.kind} {child.name}: {api_message(error)}")
    return live, errors


def _ensure_storage(pipeline: GridPipeline, op: Operator, connections: Connections) -> Outcome:
    sinks = pipeline.spec.sinks
    done: list[str] = []
    try:
        filesystem = external.s3_filesystem(connections.s3)
        done.append(
            f"state s3://{op.settings.state_bucket} {external.ensure_s3_location(filesystem, op.settings.state_bucket)}"
        )
        if sinks.archive.enabled:
            what = external.ensure_s3_location(filesystem, sinks.archive.bucket, sinks.archive.prefix)
            done.append(f"archive s3://{sinks.archive.bucket}/{sinks.archive.prefix} {what}")
    except OSError as error:
        return Outcome(False, "S3Error", f"S3 at {connections.s3.endpoint}: {error}")
    if sinks.influxdb.enabled:
        if connections.influxdb is None:
            return Outcome(
                False,
                "InfluxDBConnectionMissing",
                "sinks.influxdb is enabled but the connections Secret "
                "lacks GRIDPIPE_INFLUXDB_URL/ORG/TOKEN -- fix: add them",
            )
        try:
            with external.InfluxBuckets(connections.influxdb) as influx:
                what = influx.ensure(sinks.influxdb.bucket, external.retention_seconds(pipeline))
        except external.InfluxError as error:
            return Outcome(False, "InfluxDBError", str(error))
        done.append(f"InfluxDB bucket {sinks.influxdb.bucket} {what}")
    return Outcome(True, "Ready", "; ".join(done))


def reconcile(
    op: Operator, namespace: str, name: str, *, externals: External = "if-unsettled"
) -> dict[str, Any] | None:
    """Make one pipeline as specified; returns the status written (or that was already there), None when gone.

    ``externals``: "check" ensures schemas and storage through their APIs; "if-unsettled" skips what the status
    already records as done for this generation; "reuse" takes whatever the status records for this generation
    (child events, which must stay cheap: the pipeline's own retries and the resync check again)."""
    with _pipeline_lock(namespace, name):
        body = op.kube.get_pipeline(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        return _reconcile_locked(op, body, externals)


def _reconcile_locked(op: Operator, body: dict[str, Any], externals: External) -> dict[str, Any]:
    meta = body["metadata"]
    generation = int(meta.get("generation") or 1)
    previous = body.get("status")
    try:
        pipeline = pipeline_of(body)
    except PipelineInvalid as invalid:
        status = blocked_status(
            generation=generation,
            phase="Failed",
            reason="InvalidSpec",
            message=str(invalid),
            previous=previous,
            now=now(),
        )
        _write_status_if_changed(op, body, status)
        raise Unreconcilable(str(invalid)) from invalid
    try:
        connections = read_connections(op, meta["namespace"])
    except ConnectionsInvalid as missing:
        status = blocked_status(
            generation=generation,
            phase="Pending",
            reason="ConnectionsMissing",
            message=str(missing),
            previous=previous,
            now=now(),
        )
        _write_status_if_changed(op, body, status)
        raise RetryLater(str(missing), delay=15) from missing

    owner = owner_of(body)
    platform = op.settings.platform(
        bootstrap_servers=connections.bootstrap_servers,
        schema_registry_url=connections.schema_registry_url,
        s3_endpoint=connections.s3.endpoint,
    )
    live, apply_errors = _apply_all(op, render_children(pipeline, owner, platform))
    schemas = recorded_outcome(previous, "SchemasRegistered", generation, externals)
    if schemas is None:
        schemas = external.ensure_schemas(pipeline, connections.schema_registry_url)
    storage = recorded_outcome(previous, "StorageReady", generation, externals)
    if storage is None:
        storage = _ensure_storage(pipeline, op, connections)
    observed = Observed(
        generation=generation,
        topics={
            topic_child_name(owner.name, role.role): live.get(f"KafkaTopic/{topic_child_name(owner.name, role.role)}")
            for role in topic_roles(pipeline)
        },
        flink=live.get(f"FlinkDeployment/{flink_deployment_name(owner.name)}"),
        schemas=schemas,
        storage=storage,
        apply_errors=apply_errors,
    )
    status = status_for(observed, previous, now())
    if _write_status_if_changed(op, body, status):
        log.info(
            "status written",
            extra={"pipeline": f"{owner.namespace}/{owner.name}", "phase": status["phase"], "generation": generation},
        )
    problems = apply_errors + [o.message for o in (schemas, storage) if not o.ok]
    if problems and externals != "reuse":
        raise RetryLater("; ".join(problems))
    return status


def delete_children(op: Operator, namespace: str, name: str, uid: str) -> list[str]:
    """Delete the children a deleted pipeline owned (what the garbage collector does, for clusters without one).

    Each child is re-read first and deleted only when it is still owned by that very pipeline (same uid)."""
    deleted = []
    targets = [(TOPIC, topic_child_name(name, role)) for role in ("source", "anomalies", "dead-letter")]
    targets.append((FLINK, flink_deployment_name(name)))
    for coordinates, child_name in targets:
        obj = op.kube.get(coordinates, namespace, child_name)
        owners = (obj or {}).get("metadata", {}).get("ownerReferences") or []
        if (
            obj is not None
            and any(ref.get("uid") == uid for ref in owners)
            and op.kube.delete(coordinates, namespace, child_name)
        ):
            deleted.append(child_name)
    return deleted


def _shared_with_others(op: Operator, body: dict[str, Any], pipeline: GridPipeline) -> tuple[bool, bool]:
    """Whether another live pipeline uses the same InfluxDB bucket / archive bucket and prefix."""
    influx_shared = archive_shared = False
    sinks = pipeline.spec.sinks
    for other in op.kube.list_pipelines():
        if other["metadata"].get("uid") == body["metadata"]["uid"] or other["metadata"].get("deletionTimestamp"):
            continue
        other_sinks = (other.get("spec") or {}).get("sinks") or {}
        other_influx = other_sinks.get("influxdb") or {}
        other_archive = other_sinks.get("archive") or {}
        influx_shared |= (
            other_influx.get("enabled", False) and other_influx.get("bucket", "gridpipe") == sinks.influxdb.bucket
        )
        archive_shared |= (
            other_archive.get("enabled", False)
            and other_archive.get("bucket", "gridpipe-archive") == sinks.archive.bucket
            and other_archive.get("prefix", "") == sinks.archive.prefix
        )
    return influx_shared, archive_shared


def delete_data(op: Operator, body: dict[str, Any]) -> list[str]:
    """deletionPolicy Delete: remove the pipeline's InfluxDB bucket, archive prefix and Flink state. Data another
    pipeline still uses is kept. Raises RetryLater when a service cannot be reached (the finalizer waits)."""
    meta = body["metadata"]
    pipeline = pipeline_of(body)
    if pipeline.spec.deletion_policy != "Delete":
        return []
    try:
        connections = read_connections(op, meta["namespace"])
    except ConnectionsInvalid as missing:
        raise RetryLater(str(missing), delay=15) from missing
    influx_shared, archive_shared = _shared_with_others(op, body, pipeline)
    sinks, owner, done = pipeline.spec.sinks, owner_of(body), []
    try:
        if sinks.influxdb.enabled and connections.influxdb is not None and not influx_shared:
            with external.InfluxBuckets(connections.influxdb) as influx:
                if influx.delete(sinks.influxdb.bucket):
                    done.append(f"InfluxDB bucket {sinks.influxdb.bucket}")
        filesystem = external.s3_filesystem(connections.s3)
        if sinks.archive.enabled and not archive_shared:
            external.delete_s3_prefix(filesystem, sinks.archive.bucket, sinks.archive.prefix)
            done.append(f"s3://{sinks.archive.bucket}/{sinks.archive.prefix}")
        state = state_prefix(owner, op.settings.platform(bootstrap_servers="", schema_registry_url="", s3_endpoint=""))
        bucket, _, prefix = state.removeprefix("s3://").partition("/")
        external.delete_s3_prefix(filesystem, bucket, prefix)
        done.append(state)
    except (external.InfluxError, OSError) as error:
        raise RetryLater(f"could not delete the data of {owner.namespace}/{owner.name}: {error}", delay=15) from error
    return done
