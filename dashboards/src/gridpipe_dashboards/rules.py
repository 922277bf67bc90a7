"""Copy Prometheus's rule files (dashboards/rules/*.yml) into the platform chart (charts/gridpipe/files/rules/),
whose PrometheusRule template renders them: Helm reads no file outside a chart. The local stack's Prometheus reads
the originals in place."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SOURCE = Path("dashboards/rules")
CHART_COPY = Path("charts/gridpipe/files/rules")


def rule_files(root: Path) -> dict[str, str]:
    """Each rule file's text by its name (the promtool tests under tests/ are not rules)."""
    return {path.name: path.read_text() for path in sorted((root / SOURCE).glob("*.yml"))}


def differences(root: Path) -> list[Path]:
    """Chart copies that are missing, differ from their source, or have no source any more."""
    wanted = rule_files(root)
    copies = {path.name: path.read_text() for path in (root / CHART_COPY).glob("*.yml")}
    names = sorted(set(wanted) | set(copies))
    return [CHART_COPY / name for name in names if wanted.get(name) != copies.get(name)]


def write(root: Path) -> list[Path]:
    """Bring the chart's copies up to date; returns what changed."""
    wanted = rule_files(root)
    changed = differences(root)
    for path in changed:
        target = root / path
        if path.name in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[path.name])
        else:
            target.unlink()
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gridpipe_dashboards.rules", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: here)")
    root = parser.parse_args(argv).root.resolve()
    if not (root / SOURCE).is_dir() or not (root / "charts/gridpipe/Chart.yaml").is_file():
        sys.exit(f"error: {root} is not the gridpipe repository root -- fix: run from it, or pass --root")
    changed = write(root)
    for path in changed:
        print(f"wrote {path}" if (root / path).exists() else f"removed {path}")
    print(f"{len(rule_files(root))} rule files, {len(changed)} file(s) changed")


if __name__ == "__main__":
    main()
