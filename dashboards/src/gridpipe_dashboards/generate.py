"""Write every dashboard's Grafana JSON where it is committed: dashboards/grafana/ for Grafana's file provisioning,
and a copy in the platform chart (charts/gridpipe/files/dashboards/), since Helm reads no file outside a chart."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gridpipe_dashboards.grafana import grafana_json
from gridpipe_dashboards.panels import DASHBOARDS

OUTPUT_DIRS = (Path("dashboards/grafana"), Path("charts/gridpipe/files/dashboards"))


def rendered() -> dict[Path, str]:
    """Every generated file, by its path relative to the repository root."""
    files = {f"{dashboard.name}.json": grafana_json(dashboard) for dashboard in DASHBOARDS}
    return {directory / name: text for directory in OUTPUT_DIRS for name, text in files.items()}


def stale(root: Path) -> list[Path]:
    """Generated-looking files under the output directories that no dashboard writes any more."""
    expected = set(rendered())
    found = {path.relative_to(root) for directory in OUTPUT_DIRS for path in (root / directory).glob("*.json")}
    return sorted(found - expected)


def write(root: Path) -> list[Path]:
    """Write every file that differs from what is rendered and remove stale ones; returns what changed."""
    changed = []
    for path, text in rendered().items():
        target = root / path
        if not target.is_file() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            changed.append(path)
    for path in stale(root):
        (root / path).unlink()
        changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gridpipe-dashboards", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: here)")
    root = parser.parse_args(argv).root.resolve()
    if not (root / "charts/gridpipe/Chart.yaml").is_file():
        sys.exit(f"error: {root} is not the gridpipe repository root -- fix: run from it, or pass --root")
    changed = write(root)
    for path in changed:
        print(f"wrote {path}" if (root / path).exists() else f"removed {path}")
    print(f"{len(DASHBOARDS)} dashboards, {len(changed)} file(s) changed")
