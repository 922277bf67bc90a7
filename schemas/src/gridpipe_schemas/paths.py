"""Where gridpipe keeps what it downloads and builds on a machine: GRIDPIPE_CACHE, else the XDG cache directory."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    if explicit := os.environ.get("GRIDPIPE_CACHE"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gridpipe"
