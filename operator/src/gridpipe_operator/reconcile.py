"""The reconcile loop's domain logic, free of kopf: read the live pipeline, apply its rendered children, ensure its
external resources, observe, and write the status computed from what was observed.

Level-triggered: whatever woke it (a spec change, a child edited or deleted, a child's status, a periodic resync),
a reconcile looks at the whole current state and makes it so. Running it twice changes nothing the second time.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gridpipe_operator import external
from gridpipe_operator.connections import Connections, ConnectionsInvalid, connections_from, decode_secret_data
from gridpipe_operator.kube import Kube, api_message
from gridpipe_operator.metrics import measured
from gridpipe_operator.peering import Peering, stands_by
from gridpipe_operator.render import (
    FLINK_API,
    TOPIC_API,
    Child,
    Owner,
    deployed_reads,
    flink_deployment_name,
    render_children,
    state_prefix,
    topic_child_name,
    topic_roles,
)
from gridpipe_operator.settings import Settings
from gridpipe_operator.status import (
    CHECKING,
    Observed,
    Outcome,
    blocked_status,
    recorded_outcome,
    same_status,
    status_for,
)
from gridpipe_schemas import resources
from gridpipe_schemas.pipeline import GridPipeline, PipelineInvalid, moved_reads, parse_pipeline

log = logging.getLogger("gridpipe_operator.reconcile")
TOPIC = TOPIC_API[:3]
FLINK = FLINK_API[:3]


Key = tuple[str, str]  # (namespace, name) of a pipeline
MAX_RETRY_DELAY = 60.0


class ExternalWork:
    """Schemas and storage are ensured in a pool of their own, off the reconcile path, so a slow or unreachable
    service never delays children or status. One job per pipeline at a time; outcomes kept per generation; a failed
    job is tried again after a growing delay (the resync checks everything again anyway)."""

    def __init__(self, workers: int = 8) -> None:
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="externals")
        self._lock = threading.Lock()
        self._outcomes: dict[Key, tuple[int, Outcome, Outcome]] = {}
        self._pending: set[Key] = set()
        self._failures: dict[Key, int] = {}

    def outcome(self, key: Key, generation: int) -> tuple[Outcome, Outcome] | None:
        with self._lock:
            found = self._outcomes.get(key)
        return (found[1], found[2]) if found and found[0] == generation else None

    def store(self, key: Key, generation: int, schemas: Outcome, storage: Outcome) -> float | None:
        """Keep an outcome; returns the delay before trying again when it failed."""
        with self._lock:
            self._outcomes[key] = (generation, schemas, storage)
            if schemas.ok and storage.ok:
                self._failures.pop(key, None)
                return None
            self._failures[key] = failures = self._failures.get(key, 0) + 1
        return min(MAX_RETRY_DELAY, 2.0**failures)

    def claim(self, key: Key) -> bool:
        with self._lock:
            if key in self._pending:
                return False
            self._pending.add(key)
            return True

    def release(self, key: Key) -> None:
        with self._lock:
            self._pending.discard(key)

    def forget(self, key: Key) -> None:
        with self._lock:
            self._outcomes.pop(key, None)
            self._failures.pop(key, None)


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
    externals: ExternalWork = field(default_factory=ExternalWork)
    peering: Peering | None = None  # None: standalone, always active


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
        filesystem = resources.s3_filesystem(connections.s3)
        state = resources.ensure_s3_location(filesystem, op.settings.state_bucket)
        done.append(f"state s3://{op.settings.state_bucket} {state}")
        if sinks.archive.enabled:
            what = resources.ensure_s3_location(filesystem, sinks.archive.bucket, sinks.archive.prefix)
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
            with resources.InfluxBuckets(connections.influxdb) as influx:
                what = influx.ensure(sinks.influxdb.bucket, resources.retention_seconds(pipeline))
        except resources.InfluxError as error:
            return Outcome(False, "InfluxDBError", str(error))
        done.append(f"InfluxDB bucket {sinks.influxdb.bucket} {what}")
    return Outcome(True, "Ready", "; ".join(done))


def reconcile(op: Operator, namespace: str, name: str, *, check_externals: bool = False) -> dict[str, Any] | None:
    """Make one pipeline as specified; returns the status written (or that was already there), None when gone.

    Schemas and storage are ensured by a background job (``ExternalWork``): requested when ``check_externals``
    (spec changes, restarts, resyncs) or when nothing is known of them for this generation; the status shows
    what is known meanwhile."""
    with _pipeline_lock(namespace, name):
        body = op.kube.get_pipeline(namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return None
        return _reconcile_locked(op, body, check_externals)


def _write_blocked(op: Operator, body: dict[str, Any], *, phase: str, reason: str, message: str) -> None:
    """Record why nothing of the pipeline could be reconciled: every condition False with ``reason``."""
    generation = int(body["metadata"].get("generation") or 1)
    status = blocked_status(
        generation=generation, phase=phase, reason=reason, message=message, previous=body.get("status"), now=now()
    )
    _write_status_if_changed(op, body, status)


def _reconcile_locked(op: Operator, body: dict[str, Any], check_externals: bool) -> dict[str, Any]:
    meta = body["metadata"]
    generation = int(meta.get("generation") or 1)
    previous = body.get("status")
    try:
        pipeline = pipeline_of(body)
    except PipelineInvalid as invalid:
        _write_blocked(op, body, phase="Failed", reason="InvalidSpec", message=str(invalid))
        raise Unreconcilable(str(invalid)) from invalid
    try:
        connections = read_connections(op, meta["namespace"])
    except ConnectionsInvalid as missing:
        _write_blocked(op, body, phase="Pending", reason="ConnectionsMissing", message=str(missing))
        raise RetryLater(str(missing), delay=15) from missing

    owner = owner_of(body)
    platform = op.settings.platform(
        bootstrap_servers=connections.bootstrap_servers,
        schema_registry_url=connections.schema_registry_url,
        s3_endpoint=connections.s3.endpoint,
    )
    deployed = _deployed_reads(op, owner, pipeline)
    live, apply_errors = _apply_all(op, render_children(pipeline, owner, platform, deployed))
    schemas, storage = _known_externals(op, body, generation, check_externals)
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
    if apply_errors:
        raise RetryLater("; ".join(apply_errors))
    return status


def _deployed_reads(op: Operator, owner: Owner, pipeline: GridPipeline) -> dict[str, str] | None:
    """The restored reads of the job the Flink operator last deployed for this pipeline; logs when the spec moved
    one of them to another topic, for which the job restarts without its state (``render.upgrade_mode``)."""
    name = flink_deployment_name(owner.name)
    try:
        flink = op.kube.get(FLINK, owner.namespace, name)
    except Exception as error:  # without it a moved read could be restored: apply nothing until it can be read
        raise RetryLater(f"FlinkDeployment {name}: {api_message(error)}") from error
    deployed = deployed_reads(flink)
    moved = moved_reads(deployed, pipeline) if deployed is not None else {}
    if moved:
        log.warning(
            "a read of the job moved to another topic: the job restarts without its state",
            extra={
                "pipeline": f"{owner.namespace}/{owner.name}",
                "moved": {read: f"{old} -> {new}" for read, (old, new) in moved.items()},
            },
        )
    return deployed


def _known_externals(op: Operator, body: dict[str, Any], generation: int, check: bool) -> tuple[Outcome, Outcome]:
    """What is known of schemas and storage for this generation, requesting a check when asked or unknown."""
    key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
    previous = body.get("status")
    recorded = (
        recorded_outcome(previous, "SchemasRegistered", generation),
        recorded_outcome(previous, "StorageReady", generation),
    )
    known = op.externals.outcome(key, generation)
    if known is None and recorded[0] and recorded[0].ok and recorded[1] and recorded[1].ok:
        known = (recorded[0], recorded[1])
    if known is None or check:
        request_externals(op, key)
    return known or (recorded[0] or CHECKING, recorded[1] or CHECKING)


def request_externals(op: Operator, key: Key) -> None:
    if op.externals.claim(key):
        op.externals.pool.submit(_externals_job, op, key)


def _ensure_externals(op: Operator, key: Key) -> tuple[int, Outcome, Outcome] | None:
    body = op.kube.get_pipeline(*key)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    generation = int(body["metadata"].get("generation") or 1)
    try:
        pipeline = pipeline_of(body)
        connections = read_connections(op, key[0])
    except PipelineInvalid:
        return None  # the reconcile reports it
    except ConnectionsInvalid as missing:
        failed = Outcome(False, "ConnectionsMissing", str(missing))
        return generation, failed, failed
    schemas = external.ensure_schemas(pipeline, connections.schema_registry_url)
    return generation, schemas, _ensure_storage(pipeline, op, connections)


def _externals_job(op: Operator, key: Key) -> None:
    try:
        with measured("externals"):
            done = _ensure_externals(op, key)
    except Exception:
        log.exception(f"{key[0]}/{key[1]}: ensuring schemas and storage failed")
        done = None
        _retry_later(op, key, MAX_RETRY_DELAY)
    finally:
        op.externals.release(key)
    if done is None:
        return
    generation, schemas, storage = done
    retry_in = op.externals.store(key, generation, schemas, storage)
    try:
        reconcile(op, *key)  # writes the status with what is now known
    except (RetryLater, Unreconcilable) as problem:
        log.info(f"{key[0]}/{key[1]}: {problem}")
    if retry_in is not None:
        _retry_later(op, key, retry_in)


def _retry_later(op: Operator, key: Key, delay: float) -> None:
    timer = threading.Timer(delay, _retry_externals, (op, key))
    timer.daemon = True
    timer.start()


def _retry_externals(op: Operator, key: Key) -> None:
    """A retry armed while this replica was active is dropped once another one is (the active one does the work;
    this one's resync checks again should it become active)."""
    try:
        if stands_by(op.kube, op.peering, op.namespaces):
            log.info(f"{key[0]}/{key[1]}: another replica is active; not retrying schemas and storage")
            return
    except Exception:
        log.exception(f"{key[0]}/{key[1]}: could not read the peering record; retrying later")
        _retry_later(op, key, MAX_RETRY_DELAY)
        return
    request_externals(op, key)


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
    """Whether another live pipeline uses the same InfluxDB bucket / writes its archive to the same place (a pipeline
    of the same name in another namespace, with the same archive bucket and prefix)."""
    influx_shared = archive_shared = False
    sinks = pipeline.spec.sinks
    own_archive = resources.archive_pipeline_prefix(sinks.archive.prefix, pipeline.metadata.name)
    for other in op.kube.list_pipelines():
        if other["metadata"].get("uid") == body["metadata"]["uid"] or other["metadata"].get("deletionTimestamp"):
            continue
        other_sinks = (other.get("spec") or {}).get("sinks") or {}
        other_influx = other_sinks.get("influxdb") or {}
        other_archive = other_sinks.get("archive") or {}
        influx_shared |= (
            other_influx.get("enabled", False) and other_influx.get("bucket", "gridpipe") == sinks.influxdb.bucket
        )
        other_archive_prefix = resources.archive_pipeline_prefix(
            other_archive.get("prefix", ""), other["metadata"]["name"]
        )
        archive_shared |= (
            other_archive.get("enabled", False)
            and other_archive.get("bucket", "gridpipe-archive") == sinks.archive.bucket
            and other_archive_prefix == own_archive
        )
    return influx_shared, archive_shared


def delete_data(op: Operator, body: dict[str, Any]) -> list[str]:
    """deletionPolicy Delete: remove the pipeline's InfluxDB bucket, its own archive folder (``[<prefix>/]<name>``,
    never the rest of the prefix) and its Flink state. Data another pipeline still uses is kept. Raises RetryLater
    when a service cannot be reached (the finalizer waits)."""
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
            with resources.InfluxBuckets(connections.influxdb) as influx:
                if influx.delete(sinks.influxdb.bucket):
                    done.append(f"InfluxDB bucket {sinks.influxdb.bucket}")
        filesystem = resources.s3_filesystem(connections.s3)
        if sinks.archive.enabled and not archive_shared:
            archive = resources.archive_pipeline_prefix(sinks.archive.prefix, pipeline.metadata.name)
            resources.delete_s3_prefix(filesystem, sinks.archive.bucket, archive)
            done.append(f"s3://{sinks.archive.bucket}/{archive}")
        state = state_prefix(owner, op.settings.platform(bootstrap_servers="", schema_registry_url="", s3_endpoint=""))
        bucket, _, prefix = state.removeprefix("s3://").partition("/")
        resources.delete_s3_prefix(filesystem, bucket, prefix)
        done.append(state)
    except (resources.InfluxError, OSError) as error:
        raise RetryLater(f"could not delete the data of {owner.namespace}/{owner.name}: {error}", delay=15) from error
    return done
