"""Provision the test cluster: its three binaries and every CRD file it installs, all cached."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gridpipe_stack.fetch import PinnedFile, ensure_files
from gridpipe_stack.kube.binaries import KubeBinaries, ensure_kube_binaries
from gridpipe_stack.kube.crds import (
    extract_flink_crds,
    extract_prometheus_operator_crds,
    generate_strimzi_crds,
    gridpipe_crd_dir,
    prometheus_operator_module_zip,
)
from gridpipe_stack.maven import load_lock

Echo = Callable[[str], None]


@dataclass(frozen=True)
class KubeInstallation:
    binaries: KubeBinaries
    crd_files: tuple[Path, ...]


def _locked_files(cache_dir: Path, component: str) -> list[Path]:
    files = load_lock()[component]
    pinned = [PinnedFile(f.url, f.sha256, f.size, cache_dir / "maven" / f.path) for f in files]
    ensure_files(pinned, label=f"downloading {component}")
    return [p.target for p in pinned]


def provision_kube(cache_dir: Path, echo: Echo = print) -> KubeInstallation:
    binaries = ensure_kube_binaries(cache_dir, echo)
    (operator_api,) = _locked_files(cache_dir, "flink-operator-api")
    crd_files = [
        *sorted(gridpipe_crd_dir().glob("*.yaml")),
        *extract_flink_crds(operator_api, cache_dir),
        *generate_strimzi_crds(_locked_files(cache_dir, "strimzi-crd-generator"), cache_dir, echo),
        *extract_prometheus_operator_crds(prometheus_operator_module_zip(cache_dir), cache_dir),
    ]
    return KubeInstallation(binaries, tuple(crd_files))
