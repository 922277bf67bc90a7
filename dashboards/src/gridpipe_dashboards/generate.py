"""Write every dashboard's Grafana JSON where it is committed: dashboards/grafana/ for Grafana's file provisioning,
and a copy in the platform chart (charts/gridpipe/files/dashboards/), since Helm reads no file outside a chart."""

from __future__ import annotations

from pathlib import Path

from gridpipe_dashboards import committed
from gridpipe_dashboards.grafana import grafana_json
from gridpipe_dashboards.panels import DASHBOARDS

OUTPUT_DIRS = (Path("dashboards/grafana"), Path("charts/gridpipe/files/dashboards"))


def rendered() -> dict[Path, str]:
    """Every generated file, by its path relative to the repository root."""
    files = {f"{dashboard.name}.json": grafana_json(dashboard) for dashboard in DASHBOARDS}
    return {directory / name: text for directory in OUTPUT_DIRS for name, text in files.items()}


def stale(root: Path) -> list[Path]:
    """Generated-looking files under the output directories that no dashboard writes any more."""
    wanted = rendered()
    return [path for path in committed.out_of_date(root, wanted, OUTPUT_DIRS, "*.json") if path not in wanted]


def write(root: Path) -> list[Path]:
    """Write every file that differs from what is rendered and remove stale ones; returns what changed."""
    return committed.write(root, rendered(), OUTPUT_DIRS, "*.json")


def main(argv: list[str] | None = None) -> None:
    root = committed.repository_root("gridpipe-dashboards", __doc__, argv)
    changed = write(root)
    committed.report(root, changed)
    print(f"{len(DASHBOARDS)} dashboards, {len(changed)} file(s) changed")
