"""Every few minutes, reconcile every pipeline in full (external resources included): drift that no watch event
shows, such as a bucket deleted behind our back, is repaired too. Only the active replica does it."""

from __future__ import annotations

import logging
import threading

from gridpipe_operator.metrics import PIPELINES, measured
from gridpipe_operator.peering import stands_by
from gridpipe_operator.reconcile import Operator, RetryLater, Unreconcilable, reconcile

log = logging.getLogger("gridpipe_operator.resync")


def resync_once(op: Operator) -> int:
    pipelines = op.kube.list_pipelines(op.namespaces)
    PIPELINES.set(len(pipelines))
    for body in pipelines:
        meta = body["metadata"]
        try:
            with measured("resync"):
                reconcile(op, meta["namespace"], meta["name"], check_externals=True)
        except (RetryLater, Unreconcilable) as problem:
            log.info(f"{meta['namespace']}/{meta['name']}: {problem}")
        except Exception:
            log.exception(f"{meta['namespace']}/{meta['name']}: resync failed")
    return len(pipelines)


def resync_forever(op: Operator, stop: threading.Event) -> None:
    """Resync every period, unless another replica is the active one (kopf pauses its handlers then, not this)."""
    while not stop.wait(op.settings.resync_seconds):
        try:
            if stands_by(op.kube, op.peering, op.namespaces):
                log.debug("another replica is active; no resync")
                continue
            resync_once(op)
        except Exception:
            log.exception("resync failed; trying again at the next period")
