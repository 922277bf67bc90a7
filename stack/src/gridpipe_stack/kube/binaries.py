"""The control plane's native binaries: etcd, kube-apiserver and helm, built from the Go module proxy and cached.

INTERIM until the shared Go build module lands: binaries are looked up in $GRIDPIPE_KUBE_BIN_DIR.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gridpipe_stack.errors import StackError

Echo = Callable[[str], None]


@dataclass(frozen=True)
class KubeBinaries:
    etcd: Path
    kube_apiserver: Path
    helm: Path


def _ensure_binary(name: str, cache_dir: Path, echo: Echo) -> Path:
    directory = os.environ.get("GRIDPIPE_KUBE_BIN_DIR")
    if not directory or not (Path(directory) / name).is_file():
        raise StackError(f"no {name} binary", "set GRIDPIPE_KUBE_BIN_DIR to a directory holding it")
    return Path(directory) / name


def ensure_kube_binaries(cache_dir: Path, echo: Echo) -> KubeBinaries:
    """Build (first time, ~10 min for kube-apiserver on 2 cores) or reuse the three binaries."""
    return KubeBinaries(
        etcd=_ensure_binary("etcd", cache_dir, echo),
        kube_apiserver=_ensure_binary("kube-apiserver", cache_dir, echo),
        helm=_ensure_binary("helm", cache_dir, echo),
    )
