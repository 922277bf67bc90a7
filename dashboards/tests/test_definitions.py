"""The dashboard definitions themselves: every panel described, every PromQL query parsed by the real promtool,
no unbounded label, only the recorded series on the pipeline dashboards, and variables that `concrete` fills."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from grafana_foundation_sdk.models import units

from gridpipe_dashboards.model import Dashboard, Panel, Query, concrete
from gridpipe_dashboards.panels import DASHBOARDS, DETECTION, PIPELINE_HEALTH, RECORDED_SERIES, SELECTED

pytestmark = pytest.mark.unit

GRAFANA_UNITS = {value for value in vars(units).values() if isinstance(value, str)}
# Labels whose values are few and known in advance (a pipeline's, a service's). A sensor, meter, rocket, alert or
# Flink job id is not: grouping or naming series by one would make a series per sensor.
BOUNDED_LABELS = {
    "pipeline",
    "namespace",
    "severity",
    "anomaly_type",
    "reason",
    "outcome",
    "le",
    "dataset",  # the archive's datasets: readings, telemetry, anomalies
    "job",
    "topic",
    "request",
    "method",
    "status_code_group",
    "path",
    "status",
    "type",
    "code",
    "bucket",
    "trigger",
    "kind",
}
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
SERIES_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\{([^}]*)\}")


def queries(dashboards: tuple[Dashboard, ...] = DASHBOARDS) -> list[tuple[Dashboard, Panel, Query]]:
    return [(d, p, q) for d in dashboards for p in d.panels for q in p.queries]


def promql(dashboards: tuple[Dashboard, ...] = DASHBOARDS) -> list[tuple[Dashboard, Panel, Query]]:
    return [(d, p, q) for d, p, q in queries(dashboards) if q.datasource == "prometheus"]


def test_there_are_the_three_dashboards_with_unique_names_and_titles() -> None:
    assert [d.uid for d in DASHBOARDS] == ["gridpipe-pipeline-health", "gridpipe-platform", "gridpipe-detection"]
    for dashboard in DASHBOARDS:
        titles = [panel.title for panel in dashboard.panels]
        assert titles and len(titles) == len(set(titles)), dashboard.name


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.name)
def test_every_panel_has_a_grafana_unit_a_description_and_queries(dashboard: Dashboard) -> None:
    for panel in dashboard.panels:
        assert panel.unit in GRAFANA_UNITS, f"{panel.title}: {panel.unit!r} is not a Grafana unit"
        assert panel.description.strip().endswith("."), f"{panel.title}: describe what it shows"
        assert panel.queries, panel.title
        assert all(q.expr.strip() for q in panel.queries), panel.title


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.name)
def test_each_row_fills_grafanas_24_columns(dashboard: Dashboard) -> None:
    for row in dashboard.rows:
        assert sum(p.width for p in row.panels) % 24 == 0, row.title


def test_every_promql_query_parses_with_promtool(tmp_path: Path) -> None:
    """Each PromQL query, its variables filled in as Grafana would, becomes a recording rule; `promtool check rules`
    parses every expression (the Prometheus that the stack runs, Debian's package)."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: install Debian's prometheus package (`make setup` does)"
    checked = promql()
    rules = [{"record": f"dashboard:query_{i}", "expr": concrete(q).expr} for i, (_, _, q) in enumerate(checked)]
    rule_file = tmp_path / "dashboards.rules.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False)
    names = "\n".join(f"dashboard:query_{i}: {d.name} / {p.title}" for i, (d, p, _) in enumerate(checked))
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{names}"
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout, done.stdout


def test_promtool_refuses_a_broken_query(tmp_path: Path) -> None:
    """The check above can fail: a query missing a parenthesis is reported."""
    promtool = shutil.which("promtool")
    assert promtool
    rule_file = tmp_path / "broken.rules.yaml"
    rule = {"record": "dashboard:query_0", "expr": "sum(rate(up[1m])"}
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "broken", "rules": [rule]}]}))
    done = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "parse" in (done.stdout + done.stderr)


@pytest.mark.parametrize(("dashboard", "panel", "query"), promql(), ids=lambda x: getattr(x, "title", ""))
def test_promql_groups_and_names_series_by_bounded_labels_only(
    dashboard: Dashboard, panel: Panel, query: Query
) -> None:
    grouped = {label.strip() for labels in GROUPING.findall(query.expr) for label in labels.split(",")}
    named = set(LEGEND_LABEL.findall(query.legend))
    assert grouped | named <= BOUNDED_LABELS, f"{panel.title}: unbounded {(grouped | named) - BOUNDED_LABELS}"


def test_flux_queries_bound_their_sensors_and_time_range() -> None:
    flux = [(p, q) for _, p, q in queries() if q.datasource == "flux"]
    assert flux
    for panel, query in flux:
        assert "range(start: v.timeRangeStart, stop: v.timeRangeStop)" in query.expr, panel.title
        if "sensor_id" in query.expr:
            assert "limit(n: 10)" in query.expr, f"{panel.title}: one row per sensor needs a limit"


@pytest.mark.parametrize("dashboard", [PIPELINE_HEALTH, DETECTION], ids=lambda d: d.name)
def test_pipeline_dashboards_read_the_recorded_series_of_the_selected_pipeline(dashboard: Dashboard) -> None:
    for _, panel, query in promql((dashboard,)):
        selectors = SERIES_SELECTOR.findall(query.expr)
        assert selectors, f"{panel.title}: {query.expr}"
        for series, matchers in selectors:
            assert series in RECORDED_SERIES, f"{panel.title}: {series} is not a recorded series"
            assert matchers == SELECTED, f"{panel.title}: {series} must select the dashboard's pipeline"
    variables = {v.name: v for v in dashboard.variables}
    assert variables["pipeline"].query == "label_values(gridpipe:source_records:rate1m, pipeline)"
    assert variables["namespace"].include_all


def test_every_recorded_series_has_a_recording_rule() -> None:
    """The metric contract from the other side: Prometheus's rules (dashboards/rules) record each series read."""
    rule_files = sorted((Path(__file__).resolve().parents[1] / "rules").glob("*.yml"))
    groups = [group for path in rule_files for group in yaml.safe_load(path.read_text())["groups"]]
    recorded = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    assert set(RECORDED_SERIES) <= recorded, f"no rule records {sorted(set(RECORDED_SERIES) - recorded)}"


def test_the_pipeline_health_dashboard_covers_the_issue_list() -> None:
    used = {series for _, _, q in promql((PIPELINE_HEALTH,)) for series, _ in SERIES_SELECTOR.findall(q.expr)}
    assert used == set(RECORDED_SERIES)
    assert PIPELINE_HEALTH.refresh == "5s"


def test_concrete_fills_every_variable_of_every_query() -> None:
    for _, panel, query in queries():
        filled = concrete(query, pipeline="grid-demo")
        assert "$" not in filled.expr, f"{panel.title}: {filled.expr}"
        assert "v.timeRange" not in filled.expr and "v.windowPeriod" not in filled.expr, panel.title


def test_concrete_substitutes_as_grafana_would() -> None:
    prom = Query("prometheus", 'rate(x{pipeline="$pipeline", namespace=~"$namespace"}[$__rate_interval])', "{{le}}")
    assert concrete(prom, pipeline="p1", rate_interval="2m") == Query(
        "prometheus", 'rate(x{pipeline="p1", namespace=~".*"}[2m])', "{{le}}"
    )
    flux = Query("flux", 'from(bucket: "${bucket}") |> range(start: v.timeRangeStart, stop: v.timeRangeStop)')
    assert concrete(flux, bucket="b", range_start="-5m").expr == 'from(bucket: "b") |> range(start: -5m, stop: now())'
    assert concrete(Query("prometheus", 'x{p="${pipeline:raw}"}'), pipeline="a").expr == 'x{p="a"}'


def test_concrete_refuses_a_variable_it_does_not_know() -> None:
    with pytest.raises(ValueError, match=r"unknown variable \$cluster"):
        concrete(Query("prometheus", 'up{cluster="$cluster"}'))
