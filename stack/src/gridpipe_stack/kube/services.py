"""etcd and kube-apiserver as supervised services of a stack, loopback only, with readiness probes.

There is no kubelet, scheduler or controller-manager: objects are stored and validated (schemas, CEL rules,
admission, RBAC) but pods never run, and nothing garbage-collects owned objects.
"""

from __future__ import annotations

import httpx

from gridpipe_stack import probes
from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.kube.cluster import cluster_of, kube_dir, write_kubeconfig
from gridpipe_stack.kube.pki import SERVICE_CIDR, ensure_pki
from gridpipe_stack.kube.provision import KubeInstallation
from gridpipe_stack.services import Service


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


def _kube_apiserver(cfg: StackConfig, inst: KubeInstallation) -> Service:
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
        ],
        ports={"https": cfg.ports.kube_apiserver},
        probe=cluster.ready,
        ready_timeout=60,
        url=cluster.server,
        stop_timeout=20,
    )


def kube_services(cfg: StackConfig, inst: KubeInstallation) -> list[Service]:
    """etcd, then kube-apiserver: the apiserver is started only once etcd reports healthy."""
    for directory in (cfg.logs_dir, cfg.data_dir, kube_dir(cfg)):
        directory.mkdir(parents=True, exist_ok=True)
    return [_etcd(cfg, inst), _kube_apiserver(cfg, inst)]
