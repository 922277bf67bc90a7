"""A GridPipeline was created, its spec changed, or the operator (re)started and found it."""

from __future__ import annotations

from gridpipe_operator.metrics import measured
from gridpipe_operator.reconcile import Operator, reconcile


def on_pipeline_changed(op: Operator, *, namespace: str, name: str, trigger: str) -> str:
    with measured(trigger):
        status = reconcile(op, namespace, name, check_externals=True)
    return f"phase {status['phase']}" if status else "gone"
