"""Copy Prometheus's rule files (dashboards/rules/*.yml) into the platform chart (charts/gridpipe/files/rules/),
whose PrometheusRule template renders them: Helm reads no file outside a chart. The local stack's Prometheus reads
the originals in place."""

from __future__ import annotations

from pathlib import Path

from gridpipe_dashboards import committed

SOURCE = Path("dashboards/rules")
CHART_COPY = Path("charts/gridpipe/files/rules")


def rule_files(root: Path) -> dict[str, str]:
    """Each rule file's text by its name (the promtool tests under tests/ are not rules)."""
    return {path.name: path.read_text() for path in sorted((root / SOURCE).glob("*.yml"))}


def _copies(root: Path) -> dict[Path, str]:
    return {CHART_COPY / name: text for name, text in rule_files(root).items()}


def differences(root: Path) -> list[Path]:
    """Chart copies that are missing, differ from their source, or have no source any more."""
    return committed.out_of_date(root, _copies(root), (CHART_COPY,), "*.yml")


def write(root: Path) -> list[Path]:
    """Bring the chart's copies up to date; returns what changed."""
    return committed.write(root, _copies(root), (CHART_COPY,), "*.yml")


def main(argv: list[str] | None = None) -> None:
    root = committed.repository_root("python -m gridpipe_dashboards.rules", __doc__, argv, SOURCE)
    changed = write(root)
    committed.report(root, changed)
    print(f"{len(rule_files(root))} rule files, {len(changed)} file(s) changed")


if __name__ == "__main__":
    main()
