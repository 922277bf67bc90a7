"""What a dashboard is, independent of Grafana: plain dataclasses that every renderer (Grafana JSON, the web
console, the tests that run each query) reads, and `concrete` to fill a query's variables in."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

DatasourceKind = Literal["prometheus", "flux"]
PanelKind = Literal["timeseries", "stat", "table"]

# Grafana's built-in variables and the Flux ones its InfluxDB datasource defines.
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_FLUX_VARIABLE = re.compile(r"\bv\.(timeRangeStart|timeRangeStop|windowPeriod)\b")


@dataclass(frozen=True)
class Query:
    datasource: DatasourceKind
    expr: str
    legend: str = ""  # Grafana legend format, e.g. "{{severity}}"


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    unit: str  # a Grafana unit id: "s", "recps", "percentunit", ...
    kind: PanelKind
    queries: tuple[Query, ...]
    width: int = 8  # of the 24 columns of Grafana's grid


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A dashboard variable: `query` variables list a label's values from Prometheus; a `textbox` is typed in."""

    name: str
    label: str
    kind: Literal["query", "textbox"]
    query: str = ""  # query: a Prometheus label_values(...) expression
    default: str = ""  # textbox: its initial value
    include_all: bool = False  # query: an "All" choice, which matches every value (".*") and no label at all


@dataclass(frozen=True)
class Dashboard:
    name: str  # file and object names: <name>.json, ConfigMap <release>-dashboard-<name>
    title: str
    description: str
    refresh: str
    variables: tuple[Variable, ...]
    rows: tuple[Row, ...]
    tags: tuple[str, ...] = ("gridpipe",)

    @property
    def uid(self) -> str:
        return f"gridpipe-{self.name}"

    @property
    def panels(self) -> tuple[Panel, ...]:
        return tuple(panel for row in self.rows for panel in row.panels)


ALL = ".*"  # what an "All" choice stands for in a `=~` matcher


def concrete(
    query: Query,
    *,
    pipeline: str = "grid-demo",
    namespace: str = ALL,
    bucket: str = "gridpipe",
    rate_interval: str = "1m",
    interval: str = "15s",
    range_: str = "1h",
    range_start: str = "-1h",
    range_stop: str = "now()",
) -> Query:
    """The query with every variable replaced, as Grafana would send it: PromQL for Prometheus' API, Flux for
    InfluxDB's. `range_start`/`range_stop` are Flux expressions (a duration like "-1h", or a time). A variable
    not known here raises ValueError, so a new one cannot slip past the tests that run every query."""
    values = {
        "pipeline": pipeline,
        "namespace": namespace,
        "bucket": bucket,
        "__rate_interval": rate_interval,
        "__interval": interval,
        "__range": range_,
    }
    flux = {"timeRangeStart": range_start, "timeRangeStop": range_stop, "windowPeriod": interval}

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise ValueError(f"unknown variable ${name} in {query.expr!r}")
        return values[name]

    expr = _VARIABLE.sub(variable, query.expr)
    if query.datasource == "flux":
        expr = _FLUX_VARIABLE.sub(lambda match: flux[match.group(1)], expr)
    return dataclasses.replace(query, expr=expr)
