"""A KafkaTopic or FlinkDeployment of ours changed (status, hand edit) or was deleted: reconcile its owner.

Events that merely echo our own apply (same resourceVersion as our apply returned) are skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from gridpipe_operator.metrics import measured
from gridpipe_operator.reconcile import Operator, RetryLater, Unreconcilable, reconcile
from gridpipe_operator.render import PIPELINE_LABEL

log = logging.getLogger("gridpipe_operator.children")


def owner_name(body: dict[str, Any]) -> str | None:
    labels = body.get("metadata", {}).get("labels") or {}
    return labels.get(PIPELINE_LABEL)


def on_child_event(op: Operator, *, event_type: str | None, body: dict[str, Any]) -> None:
    meta = body.get("metadata", {})
    owner = owner_name(body)
    if owner is None or event_type is None:
        return
    key = (body.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))
    if event_type != "DELETED" and op.applied_versions.get(key) == meta.get("resourceVersion"):
        return
    try:
        with measured("child"):
            reconcile(op, meta["namespace"], owner)
    except (RetryLater, Unreconcilable) as pending:
        log.info(f"{meta['namespace']}/{owner}: not yet as specified: {pending}")
