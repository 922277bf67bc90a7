"""The control plane's native binaries and the chart tools (helm, helm-unittest), built from the Go module proxy by
the shared Go build module and cached."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gridpipe_stack.gobuild import ensure_binary

Echo = Callable[[str], None]


@dataclass(frozen=True)
class KubeBinaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    helm: Path
    helm_unittest: Path  # the chart tests' per-template suites


def ensure_kube_binaries(cache_dir: Path, echo: Echo) -> KubeBinaries:
    """Build (first time: ~10 min for kube-apiserver on 2 cores, a few more for the controller manager) or reuse."""
    return KubeBinaries(
        etcd=ensure_binary("etcd", cache_dir, echo),
        kube_apiserver=ensure_binary("kube-apiserver", cache_dir, echo),
        kube_controller_manager=ensure_binary("kube-controller-manager", cache_dir, echo),
        helm=ensure_binary("helm", cache_dir, echo),
        helm_unittest=ensure_binary("helm-unittest", cache_dir, echo),
    )
