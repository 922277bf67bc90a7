"""Grafana dashboards from the definitions in `panels`, through grafana-foundation-sdk's builders.

Panels name their datasource through a dashboard variable (`$datasource`, `$influxdb`) whose default is the uid of
the datasource in the provisioning files (PROMETHEUS_UID, INFLUXDB_UID), so a Grafana that has other datasources
can pick one from the dashboard's variable bar.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.prometheus import QueryEditorMode

from gridpipe_dashboards.model import ALL, Dashboard, DatasourceKind, Panel, PanelKind, Query, Variable

PROMETHEUS_UID = "gridpipe-prometheus"
INFLUXDB_UID = "gridpipe-influxdb"

# kind -> (Grafana plugin type, the datasource variable, its default uid)
DATASOURCES: dict[DatasourceKind, tuple[str, str, str]] = {
    "prometheus": ("prometheus", "datasource", PROMETHEUS_UID),
    "flux": ("influxdb", "influxdb", INFLUXDB_UID),
}
HEIGHTS = {"stat": 4, "timeseries": 8, "table": 8}
# The SDK's panel builders share these methods but no base class that declares them.
PANEL_BUILDERS: dict[PanelKind, Callable[[], Any]] = {
    "timeseries": timeseries.Panel,
    "stat": stat.Panel,
    "table": table.Panel,
}
TIME_RANGE = ("now-1h", "now")


class FluxQuery(cogvariants.Dataquery):
    """A query of Grafana's InfluxDB datasource in Flux mode (the SDK has no InfluxDB types)."""

    def __init__(self, ref_id: str, query: str, datasource: models.DataSourceRef) -> None:
        self.ref_id, self.query, self.datasource = ref_id, query, datasource

    def to_json(self) -> dict[str, object]:
        return {"datasource": self.datasource.to_json(), "query": self.query, "refId": self.ref_id}


class FluxQueryBuilder(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: FluxQuery) -> None:
        self._query = query

    def build(self) -> cogvariants.Dataquery:
        return self._query


def datasource_ref(kind: DatasourceKind) -> models.DataSourceRef:
    plugin, variable, _ = DATASOURCES[kind]
    return models.DataSourceRef(type_val=plugin, uid=f"${{{variable}}}")


def panel_datasource(panel: Panel) -> DatasourceKind:
    kinds = {query.datasource for query in panel.queries}
    if len(kinds) != 1:
        raise ValueError(f"panel {panel.title!r} mixes datasources {sorted(kinds)}: split it")
    return kinds.pop()


def target(query: Query, ref_id: str) -> cogbuilder.Builder[cogvariants.Dataquery]:
    ref = datasource_ref(query.datasource)
    if query.datasource == "flux":
        return FluxQueryBuilder(FluxQuery(ref_id, query.expr, ref))
    built = prometheus.Dataquery().expr(query.expr).ref_id(ref_id).datasource(ref)
    built = built.editor_mode(QueryEditorMode.CODE).range()
    return built.legend_format(query.legend) if query.legend else built


def panel_builder(panel: Panel) -> Any:
    built = PANEL_BUILDERS[panel.kind]()
    built.title(panel.title).description(panel.description).unit(panel.unit)
    built.span(panel.width).height(HEIGHTS[panel.kind]).datasource(datasource_ref(panel_datasource(panel)))
    for ref_id, query in zip("ABCDEFGHIJ", panel.queries, strict=False):
        built.with_target(target(query, ref_id))
    return built


def datasource_variable(kind: DatasourceKind) -> dash.DatasourceVariable:
    plugin, name, uid = DATASOURCES[kind]
    label = "Prometheus" if kind == "prometheus" else "InfluxDB (Flux)"
    return dash.DatasourceVariable(name).label(label).type(plugin).current(models.VariableOption(text=uid, value=uid))


def variable_builder(variable: Variable) -> Any:
    if variable.kind == "textbox":
        default = models.VariableOption(text=variable.default, value=variable.default)
        textbox = dash.TextBoxVariable(variable.name).label(variable.label).default_value(variable.default)
        return textbox.current(default)
    built = dash.QueryVariable(variable.name).label(variable.label).query(variable.query)
    built.datasource(datasource_ref("prometheus")).refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
    built.sort(models.VariableSort.ALPHABETICAL_ASC)
    return built.include_all(True).all_value(ALL) if variable.include_all else built


def dashboard_builder(dashboard: Dashboard) -> dash.Dashboard:
    built = dash.Dashboard(dashboard.title).uid(dashboard.uid).description(dashboard.description)
    built.tags(list(dashboard.tags)).refresh(dashboard.refresh).time(*TIME_RANGE).timezone("browser")
    built.link(
        dash.DashboardLink("gridpipe")
        .type(models.DashboardLinkType.DASHBOARDS)
        .tags(["gridpipe"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )
    kinds = {panel_datasource(panel) for panel in dashboard.panels}
    for kind in sorted(kinds, reverse=True):  # prometheus first
        built.with_variable(datasource_variable(kind))
    for variable in dashboard.variables:
        built.with_variable(variable_builder(variable))
    ids = itertools.count(1)  # Grafana needs panel ids unique within the dashboard (links, "view panel")
    for row in dashboard.rows:
        built.with_row(dash.Row(row.title).id(next(ids)))
        for panel in row.panels:
            built.with_panel(panel_builder(panel).id(next(ids)))
    return built


def grafana_json(dashboard: Dashboard) -> str:
    """The dashboard as Grafana's JSON model, as Grafana's file provisioning and import take it."""
    return json.dumps(dashboard_builder(dashboard).build(), cls=JSONEncoder, indent=2) + "\n"
