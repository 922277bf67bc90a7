"""etcd, kube-apiserver and kube-controller-manager as supervised services of a stack, loopback only.

Objects are stored and validated (schemas, CEL rules, admission, RBAC); the controller manager runs only the
garbage collector (owner references cascade), the namespace controller (deleted namespaces are emptied) and the
service-account controller (each namespace gets its ``default`` ServiceAccount). There is no kubelet, scheduler or
workload controller: Deployments never get ReplicaSets, pods are never scheduled, nothing runs.

The apiserver counts as ready once /readyz says ok and every CRD the stack serves is installed and Established;
the controller manager starts after that, so its garbage collector watches the custom resources from the start.

With ``audit`` (the test cluster), the apiserver records every write and every Secret access, with the user who made
it, in ``KubeCluster.audit_log``: what lets a test say which client wrote what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from gridpipe_stack import probes
from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.kube.cluster import KubeCluster, cluster_of, kube_dir, write_kubeconfig
from gridpipe_stack.kube.crds import install_crds
from gridpipe_stack.kube.pki import SERVICE_CIDR, ensure_pki
from gridpipe_stack.kube.provision import KubeInstallation
from gridpipe_stack.services import Service

CONTROLLERS = ("garbage-collector-controller", "namespace-controller", "serviceaccount-controller")
# Metadata only (who, what, which object, the answer's code): never a request's or a Secret's content.
AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]},
        {"level": "None"},
    ],
}


def _etcd_healthy(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.json().get("health") == "true"


def etcd_url(cfg: StackConfig) -> str:
    return f"http://{HOST}:{cfg.ports.etcd_client}"


def _etcd(cfg: StackConfig, inst: KubeInstallation) -> Service:
    p = cfg.ports
    peer = f"http://{HOST}:{p.etcd_peer}"
    member = f"gridpipe-{cfg.name}"
    return Service(
        name="etcd",
        command=[
            str(inst.binaries.etcd),
            f"--name={member}",
            f"--data-dir={cfg.data_dir / 'etcd'}",
            f"--listen-client-urls={etcd_url(cfg)}",
            f"--advertise-client-urls={etcd_url(cfg)}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={member}={peer}",
            "--log-level=warn",
            # A throwaway test store: a process crash loses nothing (the page cache survives), and skipping
            # fsync keeps writes fast on a busy shared disk.
            "--unsafe-no-fsync",
        ],
        ports={"client": p.etcd_client, "peer": p.etcd_peer},
        probe=probes.http_ok(f"{etcd_url(cfg)}/health", _etcd_healthy),
        ready_timeout=30,
        url=etcd_url(cfg),
    )


def _ready_with_crds(cluster: KubeCluster, crd_files: tuple[Path, ...]) -> probes.Probe:
    def probe() -> bool:
        if not cluster.ready():
            return False
        with cluster.api_client() as api_client:
            install_crds(api_client, crd_files)
        return True

    return probe


def _audit_flags(cluster: KubeCluster) -> list[str]:
    policy = cluster.audit_log.with_name("audit-policy.yaml")
    policy.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={cluster.audit_log}",
        "--audit-log-format=json",
        "--audit-log-maxsize=50",
        "--audit-log-maxbackup=1",
    ]


def _kube_apiserver(cfg: StackConfig, inst: KubeInstallation, audit: bool) -> Service:
    cluster = cluster_of(cfg)
    pki = ensure_pki(cluster.pki.directory)
    write_kubeconfig(cfg, cluster)
    return Service(
        name="kube-apiserver",
        command=[
            str(inst.binaries.kube_apiserver),
            f"--etcd-servers={etcd_url(cfg)}",
            f"--etcd-prefix=/registry-{cfg.name}",
            f"--bind-address={HOST}",
            f"--advertise-address={HOST}",
            f"--secure-port={cfg.ports.kube_apiserver}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # The default reconciler refuses a loopback advertise address; with no nodes there is nothing to
            # reconcile the kubernetes Service's endpoints to anyway.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            f"--cert-dir={kube_dir(cfg) / 'apiserver-certs'}",
            *(_audit_flags(cluster) if audit else []),
        ],
        ports={"https": cfg.ports.kube_apiserver},
        probe=_ready_with_crds(cluster, inst.crd_files),
        ready_timeout=90,
        url=cluster.server,
        stop_timeout=20,
    )


def _healthz_ok(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.text.strip() == "ok"


def _kube_controller_manager(cfg: StackConfig, inst: KubeInstallation) -> Service:
    cluster = cluster_of(cfg)
    port = cfg.ports.kube_controller_manager
    url = f"https://{HOST}:{port}"

    def probe() -> bool:
        try:
            return _healthz_ok(httpx.get(f"{url}/healthz", verify=cluster.ssl_context(), timeout=2.0))
        except (httpx.HTTPError, OSError):
            return False

    return Service(
        name="kube-controller-manager",
        command=[
            str(inst.binaries.kube_controller_manager),
            f"--kubeconfig={cluster.kubeconfig}",
            f"--authentication-kubeconfig={cluster.kubeconfig}",
            f"--authorization-kubeconfig={cluster.kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--leader-elect=false",
            f"--bind-address={HOST}",
            f"--secure-port={port}",
            # The apiserver's serving certificate names 127.0.0.1 and is signed by the stack's CA.
            f"--tls-cert-file={cluster.pki.serving_cert}",
            f"--tls-private-key-file={cluster.pki.serving_key}",
            "--profiling=false",
        ],
        ports={"https": port},
        probe=probe,
        ready_timeout=60,
        url=url,
        stop_timeout=20,
    )


def kube_services(cfg: StackConfig, inst: KubeInstallation, *, audit: bool = False) -> list[Service]:
    """etcd, kube-apiserver (with the CRDs), kube-controller-manager: each started once the one before is ready.
    ``audit``: the apiserver records writes and Secret accesses in ``cluster_of(cfg).audit_log``."""
    for directory in (cfg.logs_dir, cfg.data_dir, kube_dir(cfg)):
        directory.mkdir(parents=True, exist_ok=True)
    return [_etcd(cfg, inst), _kube_apiserver(cfg, inst, audit), _kube_controller_manager(cfg, inst)]
