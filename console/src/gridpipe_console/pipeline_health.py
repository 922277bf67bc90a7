"""The Pipeline-health page's data: the Grafana dashboard's own panels (`gridpipe_dashboards.panels`), each query run
against Prometheus over the last minutes. One definition, two renderers: Grafana draws the JSON generated from it,
the console draws what this module returns."""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from gridpipe_dashboards.model import ALL, Panel, Query, concrete
from gridpipe_dashboards.panels import PIPELINE_HEALTH

STEP_SECONDS = 15
MAX_MINUTES = 24 * 60
_LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class PrometheusUnavailable(Exception):
    """Prometheus is not configured, cannot be reached, or refused a query."""


def dashboard() -> dict[str, Any]:
    """What the page lays out: every panel of the Pipeline-health dashboard, in order, by index."""
    index = itertools.count()  # the position in PIPELINE_HEALTH.panels, which lists the rows' panels in order
    return {
        "title": PIPELINE_HEALTH.title,
        "description": PIPELINE_HEALTH.description,
        "refreshSeconds": _seconds(PIPELINE_HEALTH.refresh),
        "rows": [
            {"title": row.title, "panels": [_describe(next(index), panel) for panel in row.panels]}
            for row in PIPELINE_HEALTH.rows
        ],
    }


def _describe(index: int, panel: Panel) -> dict[str, Any]:
    return {
        "index": index,
        "title": panel.title,
        "description": panel.description,
        "unit": panel.unit,
        "kind": panel.kind,
        # Flux panels are Grafana's alone: the console asks Prometheus only.
        "drawn": any(q.datasource == "prometheus" for q in panel.queries),
    }


def _seconds(refresh: str) -> int:
    match = re.fullmatch(r"(\d+)([smh])", refresh)
    if not match:
        return 5
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass(frozen=True)
class PanelRequest:
    index: int
    pipeline: str
    namespace: str = ALL
    minutes: int = 15

    def __post_init__(self) -> None:
        if not 0 <= self.index < len(PIPELINE_HEALTH.panels):
            raise ValueError(f"no panel {self.index}: the dashboard has {len(PIPELINE_HEALTH.panels)}")
        if not 1 <= self.minutes <= MAX_MINUTES:
            raise ValueError(f"minutes must be between 1 and {MAX_MINUTES}, not {self.minutes}")


class PanelQueries:
    """Runs a panel's Prometheus queries as range queries over the last minutes, one point per step."""

    def __init__(self, client: httpx.AsyncClient, prometheus_url: str | None, timeout: float = 10.0) -> None:
        self.client = client
        self.prometheus_url = prometheus_url
        self.timeout = timeout

    async def panel(self, request: PanelRequest) -> dict[str, Any]:
        panel = PIPELINE_HEALTH.panels[request.index]
        end = time.time()
        start = end - request.minutes * 60
        series: list[dict[str, Any]] = []
        for query in panel.queries:
            if query.datasource != "prometheus":
                continue
            promql = concrete(
                query,
                pipeline=request.pipeline,
                namespace=request.namespace,
                rate_interval="1m",
                interval=f"{STEP_SECONDS}s",
                range_=f"{request.minutes}m",
            ).expr
            for result in await self._range(promql, start, end):
                series.append(_series(query, panel, result))
        return {"index": request.index, "title": panel.title, "unit": panel.unit, "series": series}

    async def _range(self, promql: str, start: float, end: float) -> list[dict[str, Any]]:
        if not self.prometheus_url:
            raise PrometheusUnavailable(
                "the console has no Prometheus to ask -- fix: set GRIDPIPE_PROMETHEUS_URL, or start the local stack"
            )
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{STEP_SECONDS}s"}
        try:
            response = await self.client.get(
                f"{self.prometheus_url}/api/v1/query_range", params=params, timeout=self.timeout
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as failed:
            raise PrometheusUnavailable(
                f"Prometheus at {self.prometheus_url} did not answer ({failed}) -- fix: check that it runs "
                "(`gridctl stack status`) or set GRIDPIPE_PROMETHEUS_URL"
            ) from failed
        if body.get("status") != "success":
            raise PrometheusUnavailable(f"Prometheus refused {promql!r}: {body.get('error', response.text)}")
        results: list[dict[str, Any]] = body["data"]["result"]
        return results


def _series(query: Query, panel: Panel, result: dict[str, Any]) -> dict[str, Any]:
    labels: dict[str, str] = result.get("metric", {})
    return {
        "name": legend(query.legend, labels) or panel.title,
        "points": [[float(t), _number(v)] for t, v in result.get("values", [])],
    }


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legend format: `{{severity}}` becomes the series' severity label."""
    return _LEGEND_LABEL.sub(lambda match: labels.get(match.group(1), ""), template).strip()


def _number(text: str) -> float | None:
    """JSON has no NaN or infinity: such a point is a gap."""
    value = float(text)
    return value if math.isfinite(value) else None
