"""Alert history and counts, read from the InfluxDB points the job's InfluxDB sink writes (docs/sinks.md).

InfluxDB already keeps every alert of a pipeline whose InfluxDB sink is on, with the bucket's retention; the console
adds no database. Queries are Flux over the HTTP API, answered as CSV.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx

from gridpipe_console.alerts import GRID_LEVEL, LEVELS, ROCKET_LEVEL, Alert, from_influx_row, level_rank
from gridpipe_console.settings import PipelineView
from gridpipe_schemas.endpoints import InfluxSettings

MEASUREMENTS = ("grid_anomaly", "rocket_anomaly")
QUERY_TIMEOUT_SECONDS = 30.0  # a day of a flooding pipeline, pivoted, on a busy 2-core machine
# range() stops at now() unless told: an alert whose event time is ahead of this clock would be hidden.
OPEN_END = "2100-01-01T00:00:00Z"
# A page looks back this far first, then further: a busy pipeline's newest page is pivoted from minutes of points,
# not the whole retention period.
LOOK_BACK = (timedelta(minutes=10), timedelta(hours=2))


class HistoryUnavailable(Exception):
    """InfluxDB cannot be asked (down, refused, or not configured)."""


@dataclass(frozen=True)
class HistoryQuery:
    pipelines: tuple[PipelineView, ...]
    min_level: str = "low"
    anomaly_type: str | None = None
    sensor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


def flux_string(text: str) -> str:
    """A Flux string literal holding ``text`` exactly (user input never becomes Flux code)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def any_of(column: str, values: Iterable[str]) -> str:
    """``r.column`` equals one of ``values``, spelled as ``==`` joined by ``or``: InfluxDB pushes that down to its
    index, where ``contains()`` would read every point of the bucket in range (influxdata/influxdb#20931)."""
    return "(" + " or ".join(f"r.{column} == {flux_string(v)}" for v in sorted(set(values))) + ")"


def _flux_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def severities_at_least(level: str) -> list[str]:
    return [s for table in (GRID_LEVEL, ROCKET_LEVEL) for s, lv in table.items() if level_rank(lv) >= level_rank(level)]


def alerts_flux(bucket: str, query: HistoryQuery, retention: timedelta) -> str:
    start = _flux_time(query.since) if query.since else f"-{int(retention.total_seconds())}s"
    stop = _flux_time(query.until) if query.until else OPEN_END
    filters = [
        any_of("_measurement", MEASUREMENTS),
        any_of("pipeline", (p.name for p in query.pipelines)),
    ]
    if query.min_level != "low":
        filters.append(any_of("severity", severities_at_least(query.min_level)))
    if query.anomaly_type:
        filters.append(f"r.anomaly_type == {flux_string(query.anomaly_type)}")
    if query.sensor:
        filters.append(f"r.sensor_id == {flux_string(query.sensor)}")
    lines = [
        f"from(bucket: {flux_string(bucket)})",
        f"  |> range(start: {start}, stop: {stop})",
        f"  |> filter(fn: (r) => {' and '.join(filters)})",
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
        "  |> group()",
        '  |> sort(columns: ["_time"], desc: true)',
        f"  |> limit(n: {int(query.limit)})",
    ]
    return "\n".join(lines)


def counts_flux(bucket: str, pipelines: Iterable[PipelineView], retention: timedelta) -> str:
    return "\n".join(
        [
            f"from(bucket: {flux_string(bucket)})",
            f"  |> range(start: -{int(retention.total_seconds())}s, stop: {OPEN_END})",
            f"  |> filter(fn: (r) => {any_of('_measurement', MEASUREMENTS)})",
            '  |> filter(fn: (r) => r._field == "alert_id")',
            f"  |> filter(fn: (r) => {any_of('pipeline', (p.name for p in pipelines))})",
            '  |> group(columns: ["pipeline", "severity"])',
            "  |> count()",
        ]
    )


def parse_csv(text: str) -> list[dict[str, str]]:
    """InfluxDB's CSV answer without annotations: tables separated by blank lines, each with its header."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for record in csv.reader(io.StringIO(text)):
        if not record or all(not cell for cell in record):
            header = None
            continue
        if header is None:
            header = record
            continue
        rows.append(dict(zip(header, record, strict=False)))
    return rows


def _by_bucket(pipelines: Iterable[PipelineView]) -> dict[str, list[PipelineView]]:
    """The pipelines that keep history, by the InfluxDB bucket they write: one query per bucket."""
    by_bucket: dict[str, list[PipelineView]] = defaultdict(list)
    for view in pipelines:
        if view.influx_bucket:
            by_bucket[view.influx_bucket].append(view)
    return by_bucket


class History:
    def __init__(self, influx: InfluxSettings | None, retention_hours: float, client: httpx.AsyncClient) -> None:
        self.influx = influx
        self.retention = timedelta(hours=retention_hours)
        self.client = client

    async def _query(self, flux: str) -> list[dict[str, str]]:
        if self.influx is None:
            raise HistoryUnavailable("no InfluxDB is configured")
        try:
            response = await self.client.post(
                f"{self.influx.url}/api/v2/query",
                params={"org": self.influx.org},
                headers={"Authorization": f"Token {self.influx.token}", "Accept": "application/csv"},
                json={"query": flux, "dialect": {"annotations": [], "header": True}},
                timeout=QUERY_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as failed:
            raise HistoryUnavailable(f"InfluxDB at {self.influx.url} did not answer: {failed}") from failed
        if response.status_code == 404 and "bucket" in response.text:
            return []  # nothing written yet
        if response.status_code != 200:
            raise HistoryUnavailable(f"InfluxDB answered {response.status_code}: {response.text[:200]}")
        return parse_csv(response.text)

    async def alerts(self, query: HistoryQuery) -> tuple[list[Alert], datetime | None]:
        """Newest first, at most ``limit``, and the ``until`` of the next (older) page, if there may be one."""
        found: list[Alert] = []
        for bucket, views in _by_bucket(query.pipelines).items():
            rows = await self._newest(bucket, replace(query, pipelines=tuple(views)))
            found.extend(from_influx_row(row) for row in rows if row.get("_time"))
        found.sort(key=lambda a: a["time"], reverse=True)
        page = found[: query.limit]
        if len(page) < query.limit:
            return page, None
        oldest = datetime.fromisoformat(page[-1]["time"].replace("Z", "+00:00"))
        newest = datetime.fromisoformat(page[0]["time"].replace("Z", "+00:00"))
        # The next page ends just after the oldest shown, so alerts sharing its millisecond are not lost (the page
        # deduplicates by id); only a page of one single millisecond moves strictly past it.
        return page, oldest if oldest == newest else oldest + timedelta(milliseconds=1)

    async def _newest(self, bucket: str, query: HistoryQuery) -> list[dict[str, str]]:
        """The query's newest ``limit`` rows, from the shortest look-back that holds that many."""
        now = datetime.now(UTC)
        end = query.until or now
        earliest = query.since or now - self.retention
        for span in LOOK_BACK:
            if end - span <= earliest:
                break
            rows = await self._query(alerts_flux(bucket, replace(query, since=end - span), self.retention))
            if len(rows) >= query.limit:
                return rows
        return await self._query(alerts_flux(bucket, query, self.retention))

    async def counts(self, pipelines: tuple[PipelineView, ...]) -> dict[str, dict[str, int]]:
        """Alerts per pipeline and severity over the retention period."""
        counts: dict[str, dict[str, int]] = {p.name: {} for p in pipelines}
        for bucket, views in _by_bucket(pipelines).items():
            for row in await self._query(counts_flux(bucket, views, self.retention)):
                if row.get("pipeline") in counts and row.get("_value"):
                    counts[row["pipeline"]][row.get("severity", "")] = int(row["_value"])
        return counts


def level_counts(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    totals = dict.fromkeys(LEVELS, 0)
    for by_severity in counts.values():
        for severity, n in by_severity.items():
            level = GRID_LEVEL.get(severity) or ROCKET_LEVEL.get(severity)
            if level:
                totals[level] += n
    return totals
