"""Generated files kept in the repository (the Grafana JSON, the chart's copies of the rule files): written where
they differ from what is generated, removed where nothing generates them any more, and the command line that does it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

CHART = Path("charts/gridpipe/Chart.yaml")


def out_of_date(root: Path, wanted: Mapping[Path, str], directories: Iterable[Path], pattern: str) -> list[Path]:
    """Paths (relative to root) that are missing, differ from what is wanted, or match the pattern in one of the
    directories without being wanted."""
    found = {path.relative_to(root) for directory in directories for path in (root / directory).glob(pattern)}
    return sorted(path for path in set(wanted) | found if wanted.get(path) != _text(root / path))


def write(root: Path, wanted: Mapping[Path, str], directories: Iterable[Path], pattern: str) -> list[Path]:
    """Bring the files up to date; returns what changed."""
    changed = out_of_date(root, wanted, directories, pattern)
    for path in changed:
        target = root / path
        if path in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[path])
        else:
            target.unlink()
    return changed


def repository_root(prog: str, description: str | None, argv: list[str] | None, *markers: Path) -> Path:
    """`--root` (default: here), refused unless it has the chart and the given markers."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: here)")
    root: Path = parser.parse_args(argv).root.resolve()
    if not all((root / marker).exists() for marker in (CHART, *markers)):
        sys.exit(f"error: {root} is not the gridpipe repository root -- fix: run from it, or pass --root")
    return root


def report(root: Path, changed: list[Path]) -> None:
    for path in changed:
        print(f"wrote {path}" if (root / path).exists() else f"removed {path}")


def _text(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None
