"""The Pipeline-health page's pure logic: the layout comes from the Grafana dashboard's definitions, legends, and
clear errors for a bad request or a missing Prometheus (no services)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gridpipe_console.pipeline_health import (
    MAX_MINUTES,
    PanelQueries,
    PanelRequest,
    PrometheusUnavailable,
    dashboard,
    legend,
)
from gridpipe_dashboards.panels import PIPELINE_HEALTH

pytestmark = pytest.mark.unit


def test_the_page_lays_out_every_panel_of_the_grafana_dashboard_in_order() -> None:
    laid_out = [panel for row in dashboard()["rows"] for panel in row["panels"]]
    assert [p["title"] for p in laid_out] == [p.title for p in PIPELINE_HEALTH.panels]
    assert [p["index"] for p in laid_out] == list(range(len(PIPELINE_HEALTH.panels)))
    assert dashboard()["refreshSeconds"] == 5


def test_legends_fill_labels_as_grafana_does() -> None:
    assert legend("{{severity}}", {"severity": "high"}) == "high"
    assert legend("{{ type }} {{code}}", {"type": "PUT", "code": "200"}) == "PUT 200"
    assert legend("p99", {}) == "p99"
    assert legend("{{missing}}", {}) == ""


@pytest.mark.parametrize(
    ("index", "minutes", "problem"),
    [(-1, 15, "no panel -1"), (len(PIPELINE_HEALTH.panels), 15, "no panel"), (0, 0, "minutes must be between")],
)
def test_a_bad_panel_request_names_the_problem(index: int, minutes: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PanelRequest(index, "grid-demo", minutes=minutes)
    assert MAX_MINUTES == 24 * 60


def test_without_prometheus_the_error_names_the_fix() -> None:
    async def ask() -> None:
        async with httpx.AsyncClient() as client:
            await PanelQueries(client, None).panel(PanelRequest(0, "grid-demo"))

    with pytest.raises(PrometheusUnavailable, match="GRIDPIPE_PROMETHEUS_URL"):
        asyncio.run(ask())


def test_an_unreachable_prometheus_is_named_with_its_address() -> None:
    async def ask() -> None:
        async with httpx.AsyncClient() as client:
            await PanelQueries(client, "http://127.0.0.1:9", timeout=2).panel(PanelRequest(0, "grid-demo"))

    with pytest.raises(PrometheusUnavailable, match=r"127\.0\.0\.1:9 did not answer"):
        asyncio.run(ask())
