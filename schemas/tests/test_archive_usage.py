"""What an archive holds, counted from a listing: data files only, per dataset, older days listed again only now and
then. A local directory tree stands in for the bucket (the S3 listing itself is tested on the stack's SeaweedFS)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from gridpipe_schemas.archive_usage import (
    ArchiveLocation,
    ArchiveUsageCollector,
    DatasetUsage,
    S3Listing,
    UsageObserver,
    is_data_file,
    partition_day,
)

pytestmark = pytest.mark.unit
TODAY = dt.date(2026, 12, 1)
LOCATION = ArchiveLocation("", "grid-demo", "gridpipe-archive")


class CountingListing(S3Listing):
    def __init__(self, root: Path) -> None:
        from pyarrow import fs

        super().__init__(fs.SubTreeFileSystem(str(root), fs.LocalFileSystem()))
        self.listed: list[str] = []

    def files(self, path: str, *, recursive: bool = True) -> list:  # type: ignore[type-arg]
        self.listed.append(path)
        return super().files(path, recursive=recursive)


def put(root: Path, path: str, size: int) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x" * size)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    base = "gridpipe-archive/grid-demo"
    put(tmp_path, f"{base}/readings/year=2026/month=11/day=20/part-a-0-0", 100)
    put(tmp_path, f"{base}/readings/year=2026/month=11/day=20/_SUCCESS", 0)
    put(tmp_path, f"{base}/readings/year=2026/month=12/day=1/part-b-0-0", 30)
    put(tmp_path, f"{base}/readings/year=2026/month=12/day=1/part-b-0-1", 20)
    put(tmp_path, f"{base}/readings/year=2026/month=12/day=1/.part-b-0-2.inprogress", 7)
    put(tmp_path, f"{base}/anomalies/year=2026/month=12/day=1/part-c-0-0", 5)
    put(tmp_path, "gridpipe-archive/other-pipeline/readings/year=2026/month=12/day=1/part-d-0-0", 1000)
    return tmp_path


def test_only_part_files_count() -> None:
    assert is_data_file("b/p/readings/year=2026/month=12/day=1/part-1f-0-3")
    assert not is_data_file("b/p/readings/year=2026/month=12/day=1/_SUCCESS")
    assert not is_data_file("b/p/readings/year=2026/month=12/day=1/.part-1f-0-3.inprogress.8d2e")


def test_partition_days_are_read_from_the_hive_style_path() -> None:
    assert partition_day("b/p/readings/year=2026/month=12/day=1") == dt.date(2026, 12, 1)
    assert partition_day("b/p/readings/year=2026/month=02/day=30/") is None
    assert partition_day("b/p/readings/misc") is None


def test_usage_per_dataset_counts_committed_files_and_bytes(archive: Path) -> None:
    usage = UsageObserver(today=lambda: TODAY).observe(CountingListing(archive), LOCATION)
    assert {name: (u.files, u.bytes) for name, u in usage.items()} == {"readings": (3, 150), "anomalies": (1, 5)}
    assert usage["readings"].newest_commit is not None


def test_older_days_are_listed_again_only_on_full_rounds(archive: Path) -> None:
    listing = CountingListing(archive)
    observer = UsageObserver(full_every=3, today=lambda: TODAY)
    old_day = "gridpipe-archive/grid-demo/readings/year=2026/month=11/day=20"
    rounds = []
    for _ in range(4):
        listing.listed.clear()
        observer.observe(listing, LOCATION)
        observer.next_round()
        rounds.append(old_day in listing.listed)
    assert rounds == [True, False, False, True]
    put(archive, f"{old_day}/part-late-0-0", 1)  # a late event's file in an old day: seen on the next full round
    seen = []
    for _ in range(3):  # rounds 4, 5 and 6 (full)
        seen.append(observer.observe(listing, LOCATION)["readings"].files)
        observer.next_round()
    assert seen == [3, 3, 4]


def test_missing_archive_is_empty_not_an_error(tmp_path: Path) -> None:
    assert UsageObserver().observe(CountingListing(tmp_path), LOCATION) == {}


def test_folders_without_files_are_not_reported(tmp_path: Path) -> None:
    # SeaweedFS keeps a folder whose files were deleted; only _SUCCESS left counts as empty too.
    (tmp_path / "gridpipe-archive/grid-demo/readings/year=2026/month=12/day=1").mkdir(parents=True)
    put(tmp_path, "gridpipe-archive/grid-demo/anomalies/year=2026/month=12/day=1/_SUCCESS", 0)
    assert UsageObserver(today=lambda: TODAY).observe(CountingListing(tmp_path), LOCATION) == {}


def test_collector_exports_gauges_and_counts_listing_errors(archive: Path) -> None:
    collector = ArchiveUsageCollector(UsageObserver(today=lambda: TODAY))
    broken = ArchiveLocation("ns", "broken", "gridpipe-archive")

    def listing_for(location: ArchiveLocation) -> S3Listing:
        if location is broken:
            raise OSError("connection refused")
        return CountingListing(archive)

    problems = collector.observe_all(listing_for, [LOCATION, broken])
    assert problems == ["s3://gridpipe-archive/broken: connection refused"]
    registry = CollectorRegistry()
    registry.register(collector)
    labels = {"namespace": "", "pipeline": "grid-demo", "dataset": "readings"}
    assert registry.get_sample_value("gridpipe_archive_files", labels) == 3
    assert registry.get_sample_value("gridpipe_archive_bytes", labels) == 150
    assert (
        registry.get_sample_value("gridpipe_archive_observe_errors_total", {"namespace": "ns", "pipeline": "broken"})
        == 1
    )
    # A pipeline no longer given is no longer exported.
    collector.observe_all(listing_for, [])
    assert registry.get_sample_value("gridpipe_archive_files", labels) is None


def test_usages_add_up() -> None:
    assert DatasetUsage(1, 10, 5.0) + DatasetUsage(2, 20, None) == DatasetUsage(3, 30, 5.0)
