"""The local stack's archive exporter: every pipeline archived in the stack's buckets, observed in S3 and served to
Prometheus (``gridpipe_archive_*``, docs/observability.md). On Kubernetes the operator exports the same series.

Locally there is no list of pipelines to follow (`gridctl run` submits a job and leaves), so the pipelines are
found where `gridctl run` archives them: every top-level folder of the stack's archive bucket is one pipeline's
archive (``s3://gridpipe-archive/<pipeline>/<dataset>/...``).

    python -m gridpipe_stack.archive_exporter --port 18089 [--bucket gridpipe-archive] [--interval 15]
"""

from __future__ import annotations

import argparse
import logging
import threading
from collections.abc import Sequence

from prometheus_client import REGISTRY, start_http_server

from gridpipe_schemas.archive_usage import ArchiveLocation, ArchiveUsageCollector, S3Listing
from gridpipe_schemas.resources import S3Connection, s3_filesystem
from gridpipe_stack import credentials
from gridpipe_stack.config import HOST, StackConfig

log = logging.getLogger("gridpipe_stack.archive_exporter")


def archived_pipelines(listing: S3Listing, buckets: Sequence[str]) -> list[ArchiveLocation]:
    return [
        ArchiveLocation("", folder.rsplit("/", 1)[-1], bucket)
        for bucket in buckets
        for folder in listing.folders(bucket)
    ]


def observe_forever(
    collector: ArchiveUsageCollector, listing: S3Listing, buckets: Sequence[str], interval: float, stop: threading.Event
) -> None:
    while True:
        try:
            for problem in collector.observe_all(lambda _: listing, archived_pipelines(listing, buckets)):
                log.warning(f"cannot list {problem}; trying again in {interval:g} s")
        except OSError as error:  # the buckets themselves could not be listed
            log.warning(
                f"cannot list the archive buckets {', '.join(buckets)}: {error}; trying again in {interval:g} s"
            )
        if stop.wait(interval):
            return


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gridpipe_stack.archive_exporter", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="serve /metrics on this port")
    parser.add_argument("--bucket", action="append", help="archive bucket to observe (repeatable)")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between observations")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    cfg = StackConfig.from_env()
    s3 = credentials.s3(cfg)
    listing = S3Listing(s3_filesystem(S3Connection(s3.endpoint, s3.access_key, s3.secret_key, s3.region)))
    collector = ArchiveUsageCollector()
    REGISTRY.register(collector)
    start_http_server(args.port, addr=HOST)
    buckets = args.bucket or list(credentials.S3_BUCKETS)
    log.info(f"observing s3://{', s3://'.join(buckets)} every {args.interval:g} s; metrics on {HOST}:{args.port}")
    observe_forever(collector, listing, buckets, args.interval, threading.Event())


if __name__ == "__main__":
    main()
