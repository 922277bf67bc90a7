"""What a pipeline's archive holds, observed in S3: committed Parquet files and bytes per dataset, and when the
newest was committed.

Flink's filesystem sink exports no metric of its commits (docs/observability.md), but its commits are what S3
shows: a part file is uploaded as a multipart upload that becomes an object only when its checkpoint completes.
So listing ``<bucket>/[<prefix>/]<pipeline>/<dataset>/year=/month=/day=/`` counts exactly the committed files, on any
S3-compatible store. Day partitions older than yesterday (UTC) rarely change, so they are listed again only every
``full_every`` observations; the recent ones every time.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gridpipe_schemas.pipeline import GridPipeline
from gridpipe_schemas.resources import archive_pipeline_prefix

DAY_PARTITION = re.compile(r"year=(\d{4})/month=(\d{1,2})/day=(\d{1,2})$")
RECENT_DAYS = 2  # today and yesterday (UTC) are listed at every observation: late events land there


@dataclass(frozen=True)
class ArchivedFile:
    path: str
    size: int
    modified: float  # seconds since the epoch


@dataclass(frozen=True)
class DatasetUsage:
    files: int = 0
    bytes: int = 0
    newest_commit: float | None = None  # seconds since the epoch, None without files

    def __add__(self, other: DatasetUsage) -> DatasetUsage:
        newest = [t for t in (self.newest_commit, other.newest_commit) if t is not None]
        return DatasetUsage(self.files + other.files, self.bytes + other.bytes, max(newest) if newest else None)


def is_data_file(path: str) -> bool:
    """Parquet part files count; ``_SUCCESS`` markers and hidden in-progress files do not."""
    name = path.rsplit("/", 1)[-1]
    return bool(name) and not name.startswith(("_", "."))


def summarize(files: Iterable[ArchivedFile]) -> DatasetUsage:
    total = DatasetUsage()
    for archived in files:
        if is_data_file(archived.path):
            total = total + DatasetUsage(1, archived.size, archived.modified)
    return total


def partition_day(path: str) -> dt.date | None:
    """The date of a day partition's path, None for any other path."""
    found = DAY_PARTITION.search(path.rstrip("/"))
    if not found:
        return None
    try:
        return dt.date(*(int(part) for part in found.groups()))
    except ValueError:
        return None


def is_recent(day: dt.date | None, today: dt.date) -> bool:
    return day is None or (today - day).days < RECENT_DAYS


@dataclass(frozen=True)
class ArchiveLocation:
    """Where one pipeline's archive lives: its datasets are the folders below ``bucket/[prefix/]pipeline``."""

    namespace: str
    pipeline: str
    bucket: str
    prefix: str = ""

    @classmethod
    def of(cls, pipeline: GridPipeline, namespace: str = "") -> ArchiveLocation:
        archive = pipeline.spec.sinks.archive
        return cls(namespace, pipeline.metadata.name, archive.bucket, archive.prefix)

    @property
    def root(self) -> str:
        return f"{self.bucket}/{archive_pipeline_prefix(self.prefix, self.pipeline)}"


class S3Listing:
    """The listing calls this module makes, through a pyarrow S3 filesystem (``resources.s3_filesystem``)."""

    def __init__(self, filesystem: Any) -> None:
        self.filesystem = filesystem

    def folders(self, path: str) -> list[str]:
        from pyarrow import fs

        found = self.filesystem.get_file_info(fs.FileSelector(path, allow_not_found=True))
        return sorted(info.path for info in found if info.type == fs.FileType.Directory)

    def files(self, path: str, *, recursive: bool = True) -> list[ArchivedFile]:
        from pyarrow import fs

        found = self.filesystem.get_file_info(fs.FileSelector(path, recursive=recursive, allow_not_found=True))
        return [
            ArchivedFile(info.path, info.size or 0, info.mtime.timestamp() if info.mtime else 0.0)
            for info in found
            if info.type == fs.FileType.File
        ]


def partitions(listing: S3Listing, dataset_root: str) -> Iterator[str]:
    """The day partitions of a dataset; a folder that is not ``year=`` is yielded as it is (listed whole)."""
    for year in listing.folders(dataset_root):
        if not year.rsplit("/", 1)[-1].startswith("year="):
            yield year
            continue
        for month in listing.folders(year):
            yield from listing.folders(month)


@dataclass
class UsageObserver:
    """Observes archives again and again, keeping the usage of older day partitions between observations."""

    full_every: int = 20
    today: Callable[[], dt.date] = field(default=lambda: dt.datetime.now(dt.UTC).date())
    _cache: dict[ArchiveLocation, dict[str, DatasetUsage]] = field(default_factory=dict)
    _rounds: int = 0

    def observe(self, listing: S3Listing, location: ArchiveLocation) -> dict[str, DatasetUsage]:
        """Usage per dataset with at least one committed file; raises what the S3 client raises when S3 is away."""
        full = self._rounds % self.full_every == 0
        today = self.today()
        known = self._cache.get(location, {})
        seen: dict[str, DatasetUsage] = {}  # partitions that are gone drop out of the cache
        usage: dict[str, DatasetUsage] = {}
        for dataset_root in listing.folders(location.root):
            total = summarize(listing.files(dataset_root, recursive=False))
            for partition in partitions(listing, dataset_root):
                cached = known.get(partition)
                if cached is None or full or is_recent(partition_day(partition), today):
                    cached = summarize(listing.files(partition))
                seen[partition] = cached
                total = total + cached
            if total.files:  # an empty folder is no archive: some S3 servers keep folders whose files were deleted
                usage[dataset_root.rsplit("/", 1)[-1]] = total
        self._cache[location] = seen
        return usage

    def forget(self, location: ArchiveLocation) -> None:
        self._cache.pop(location, None)

    def next_round(self) -> None:
        self._rounds += 1


@dataclass(frozen=True)
class Observed:
    location: ArchiveLocation
    datasets: Mapping[str, DatasetUsage]
    at: float


class ArchiveUsageCollector:
    """The last observation of every archive as Prometheus gauges, plus listing errors; a custom collector, so
    pipelines that are gone disappear from the next scrape."""

    def __init__(self, observer: UsageObserver | None = None) -> None:
        self.observer = observer or UsageObserver()
        self._observed: dict[tuple[str, str], Observed] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def observe_all(
        self, listing_for: Callable[[ArchiveLocation], S3Listing], locations: Iterable[ArchiveLocation]
    ) -> list[str]:
        """Observe each location once; returns the problems (one line each) of those that could not be listed."""
        seen, problems = set(), []
        for location in locations:
            key = (location.namespace, location.pipeline)
            seen.add(key)
            try:
                datasets = self.observer.observe(listing_for(location), location)
            except Exception as error:  # S3 away, credentials refused: counted, and tried again next round
                with self._lock:
                    self._errors[key] = self._errors.get(key, 0) + 1
                problems.append(f"s3://{location.root}: {error}")
                continue
            with self._lock:
                self._observed[key] = Observed(location, datasets, time.time())
        with self._lock:
            for gone in set(self._observed) - seen:
                self.observer.forget(self._observed.pop(gone).location)
        self.observer.next_round()
        return problems

    def forget_all(self) -> None:
        """Export nothing until the next observation (a stand-by replica's archives are its peer's to report)."""
        with self._lock:
            for observed in self._observed.values():
                self.observer.forget(observed.location)
            self._observed.clear()
            self._errors.clear()

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["namespace", "pipeline", "dataset"]
        files = GaugeMetricFamily(
            "gridpipe_archive_files", "Parquet files committed to the archive (objects in S3).", labels=labels
        )
        size = GaugeMetricFamily("gridpipe_archive_bytes", "Bytes of the archive's committed files.", labels=labels)
        newest = GaugeMetricFamily(
            "gridpipe_archive_last_commit_timestamp_seconds",
            "When the newest committed file of the dataset was written to S3.",
            labels=labels,
        )
        observed = GaugeMetricFamily(
            "gridpipe_archive_observed_timestamp_seconds",
            "When the archive was last listed successfully.",
            labels=labels[:2],
        )
        errors = CounterMetricFamily(
            "gridpipe_archive_observe_errors", "Listings of the archive that failed (S3 errors).", labels=labels[:2]
        )
        with self._lock:
            for (namespace, pipeline), seen in self._observed.items():
                observed.add_metric([namespace, pipeline], seen.at)
                for dataset, usage in seen.datasets.items():
                    files.add_metric([namespace, pipeline, dataset], usage.files)
                    size.add_metric([namespace, pipeline, dataset], usage.bytes)
                    if usage.newest_commit is not None:
                        newest.add_metric([namespace, pipeline, dataset], usage.newest_commit)
            for (namespace, pipeline), count in self._errors.items():
                errors.add_metric([namespace, pipeline], count)
        yield from (files, size, newest, observed, errors)
