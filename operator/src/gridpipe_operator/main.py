"""kopf glue: registers the handlers of ``gridpipe_operator.handlers`` and configures kopf. No domain logic here."""

from __future__ import annotations

import logging
import threading
from typing import Any

import kopf

from gridpipe_operator.handlers.archive_usage import observe_archives_forever
from gridpipe_operator.handlers.child_event import on_child_event
from gridpipe_operator.handlers.pipeline_changed import on_pipeline_changed
from gridpipe_operator.handlers.pipeline_deleted import on_pipeline_deleting, on_pipeline_gone
from gridpipe_operator.handlers.resync import resync_forever
from gridpipe_operator.kube import Kube, load_api_client
from gridpipe_operator.peering import Peering
from gridpipe_operator.reconcile import ExternalWork, Operator, RetryLater, Unreconcilable
from gridpipe_operator.render import FLINK_API, MANAGED_BY, TOPIC_API
from gridpipe_operator.settings import Settings
from gridpipe_schemas.crd import PLURAL
from gridpipe_schemas.pipeline import API_GROUP, API_VERSION

PIPELINES = (API_GROUP, API_VERSION, PLURAL)
FINALIZER = f"{API_GROUP}/delete-data"
log = logging.getLogger("gridpipe_operator")


def _op(memo: Any) -> Operator:
    operator: Operator = memo.operator
    return operator


def _deletes_data(spec: Any, **_: Any) -> bool:
    return bool(spec.get("deletionPolicy") == "Delete")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    config = Settings.from_env()
    memo.operator = Operator(
        kube=Kube(load_api_client(pool_size=config.workers * 2)),
        settings=config,
        namespaces=tuple(memo.get("namespaces") or ()),
        externals=ExternalWork(config.workers),
        peering=Peering(memo.peering, memo.priority) if memo.get("peering") else None,
    )
    if memo.get("peering"):
        memo.operator.kube.ensure_peering(memo.peering, memo.operator.namespaces)
    settings.execution.max_workers = config.workers
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=API_GROUP, key="last-handled")
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "gridpipe-operator"
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    memo.stop_resync = threading.Event()
    threading.Thread(target=resync_forever, args=(memo.operator, memo.stop_resync), name="resync", daemon=True).start()
    threading.Thread(
        target=observe_archives_forever, args=(memo.operator, memo.stop_resync), name="archive-usage", daemon=True
    ).start()


@kopf.on.cleanup()
def stop(memo: kopf.Memo, **_: Any) -> None:
    if "stop_resync" in memo:
        memo.stop_resync.set()


def _reconcile(memo: Any, namespace: str | None, name: str, trigger: str) -> str:
    assert namespace is not None  # GridPipelines are namespaced
    try:
        return on_pipeline_changed(_op(memo), namespace=namespace, name=name, trigger=trigger)
    except RetryLater as pending:
        raise kopf.TemporaryError(str(pending), delay=pending.delay) from pending
    except Unreconcilable as invalid:
        raise kopf.PermanentError(str(invalid)) from invalid


@kopf.on.create(*PIPELINES)
def created(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> str:
    return _reconcile(memo, namespace, name, "create")


@kopf.on.update(*PIPELINES)
def updated(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> str:
    return _reconcile(memo, namespace, name, "update")


@kopf.on.resume(*PIPELINES)
def resumed(memo: kopf.Memo, namespace: str | None, name: str, **_: Any) -> str:
    return _reconcile(memo, namespace, name, "resume")


@kopf.on.delete(*PIPELINES, when=_deletes_data)
def deleting(memo: kopf.Memo, body: kopf.Body, **_: Any) -> str:
    try:
        return on_pipeline_deleting(_op(memo), body=dict(body))
    except RetryLater as pending:
        raise kopf.TemporaryError(str(pending), delay=pending.delay) from pending


@kopf.on.event(*PIPELINES)
def pipeline_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **_: Any) -> None:
    if type == "DELETED":
        removed = on_pipeline_gone(_op(memo), body=dict(body))
        if removed:
            log.info(f"{body['metadata']['namespace']}/{body['metadata']['name']} gone; deleted {', '.join(removed)}")


@kopf.on.event(*TOPIC_API[:3], labels=MANAGED_BY)
def topic_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **_: Any) -> None:
    on_child_event(_op(memo), event_type=type, body=dict(body))


@kopf.on.event(*FLINK_API[:3], labels=MANAGED_BY)
def flink_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **_: Any) -> None:
    on_child_event(_op(memo), event_type=type, body=dict(body))


@kopf.on.probe(id="children_applied")
def probe_children(memo: kopf.Memo, **_: Any) -> int:
    return len(_op(memo).applied_versions)
