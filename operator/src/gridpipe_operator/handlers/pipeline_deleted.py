"""A GridPipeline is being deleted.

With ``deletionPolicy: Delete`` a finalizer holds the object until its data (InfluxDB bucket, archive prefix, Flink
state) is deleted. Children go with it through their owner references; they are also deleted here, and when a
pipeline disappears without a finalizer, so that clusters without a garbage collector are left clean too.
"""

from __future__ import annotations

from typing import Any

from gridpipe_operator.reconcile import Operator, delete_children, delete_data


def on_pipeline_deleting(op: Operator, *, body: dict[str, Any]) -> str:
    meta = body["metadata"]
    removed = delete_data(op, body)
    children = delete_children(op, meta["namespace"], meta["name"], meta["uid"])
    return f"deleted data: {', '.join(removed) or 'none'}; children: {', '.join(children) or 'none'}"


def on_pipeline_gone(op: Operator, *, body: dict[str, Any]) -> list[str]:
    meta = body["metadata"]
    op.externals.forget((meta["namespace"], meta["name"]))
    return delete_children(op, meta["namespace"], meta["name"], meta["uid"])
