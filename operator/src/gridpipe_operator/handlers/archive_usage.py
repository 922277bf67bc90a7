"""Every ``archive_observe_seconds``, list what each pipeline's archive holds in S3 and export it as
``gridpipe_archive_*`` (docs/observability.md): Flink's filesystem sink reports nothing of its commits, S3 shows
them. Only the active replica lists; a stand-by exports nothing, so two replicas never report one archive twice."""

from __future__ import annotations

import logging
import threading
from typing import Any

from gridpipe_operator.connections import ConnectionsInvalid
from gridpipe_operator.metrics import ARCHIVES
from gridpipe_operator.peering import stands_by
from gridpipe_operator.reconcile import Operator, pipeline_of, read_connections
from gridpipe_schemas.archive_usage import ArchiveLocation, S3Listing
from gridpipe_schemas.resources import s3_filesystem

log = logging.getLogger("gridpipe_operator.archive_usage")


def archived_pipelines(bodies: list[dict[str, Any]]) -> list[ArchiveLocation]:
    """The archive of every pipeline with the archive on; invalid specs are the reconciler's to report."""
    locations = []
    for body in bodies:
        try:
            pipeline = pipeline_of(body)
        except ValueError:  # PipelineInvalid
            continue
        if pipeline.spec.sinks.archive.enabled:
            locations.append(ArchiveLocation.of(pipeline, body["metadata"]["namespace"]))
    return locations


def observe_archives_once(op: Operator) -> list[str]:
    listings: dict[str, S3Listing] = {}

    def listing_for(location: ArchiveLocation) -> S3Listing:
        if location.namespace not in listings:  # one S3 client per namespace's connections Secret, per round
            listings[location.namespace] = S3Listing(s3_filesystem(read_connections(op, location.namespace).s3))
        return listings[location.namespace]

    return ARCHIVES.observe_all(listing_for, archived_pipelines(op.kube.list_pipelines(op.namespaces)))


def observe_archives_forever(op: Operator, stop: threading.Event) -> None:
    while not stop.wait(op.settings.archive_observe_seconds):
        try:
            if stands_by(op.kube, op.peering, op.namespaces):
                ARCHIVES.forget_all()
                continue
            for problem in observe_archives_once(op):
                log.warning(f"cannot list {problem}; trying again in {op.settings.archive_observe_seconds} s")
        except ConnectionsInvalid as invalid:
            log.warning(str(invalid))
        except Exception:
            log.exception("observing the archives failed; trying again at the next period")
