"""Every few minutes, reconcile every pipeline in full (external resources included): drift that no watch event
shows, such as a bucket deleted behind our back, is repaired too."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gridpipe_operator.metrics import PIPELINES, measured
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


def outranked(peers: Mapping[str, Any], priority: int, now: datetime) -> bool:
    """Whether a live peer has a higher priority (kopf then pauses this replica, and so does the resync)."""
    for peer in peers.values():
        if not isinstance(peer, Mapping) or int(peer.get("priority", 0)) <= priority:
            continue
        seen = datetime.fromisoformat(str(peer.get("lastseen")))
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=UTC)
        if now - seen <= timedelta(seconds=float(peer.get("lifetime", 60))):
            return True
    return False


def resync_forever(op: Operator, stop: threading.Event, peering: tuple[str, int] | None = None) -> None:
    """Resync every period; under peering, only while no live replica outranks this one."""
    while not stop.wait(op.settings.resync_seconds):
        try:
            if peering and outranked(op.kube.peers(peering[0], op.namespaces), peering[1], datetime.now(UTC)):
                continue
            resync_once(op)
        except Exception:
            log.exception("resync failed; trying again at the next period")
