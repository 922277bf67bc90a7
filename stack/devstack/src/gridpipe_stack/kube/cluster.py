"""How clients reach a stack's kube-apiserver: its URL, the admin kubeconfig, a Python API client."""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client

from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.errors import StackError
from gridpipe_stack.kube.pki import Pki

CONTEXT = "gridpipe-test"


@dataclass(frozen=True)
class KubeCluster:
    """A running test cluster, as the operator and the tests see it (admin credentials, system:masters)."""

    kubeconfig: Path
    server: str
    pki: Pki

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = self.server
        configuration.ssl_ca_cert = str(self.pki.ca_cert)
        configuration.cert_file = str(self.pki.admin_cert)
        configuration.key_file = str(self.pki.admin_key)
        return client.ApiClient(configuration)

    def service_account_kubeconfig(self, namespace: str, name: str, path: Path, hours: int = 12) -> Path:
        """A kubeconfig acting as ServiceAccount ``namespace/name`` (a TokenRequest token): for testing RBAC."""
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(expiration_seconds=hours * 3600))
        with self.api_client() as api_client:
            answer = client.CoreV1Api(api_client).create_namespaced_service_account_token(name, namespace, request)
        token = answer.status.token if answer.status else None
        if not token:
            raise StackError(f"the apiserver issued no token for {namespace}/{name}", "read the kube-apiserver log")
        user = {"token": token}
        return _write_kubeconfig(path, self, f"system:serviceaccount:{namespace}:{name}", user, namespace)

    @property
    def audit_log(self) -> Path:
        """The apiserver's audit log (JSON lines), written when the cluster was started with auditing."""
        return self.kubeconfig.with_name("audit.log")

    def audit_events(self) -> list[dict[str, Any]]:
        """Every audit event recorded so far (writes and Secret accesses: see ``services.AUDIT_POLICY``)."""
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line.strip()]

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def ready(self) -> bool:
        """True when the apiserver answers /readyz with ok (every post-start hook done, etcd reachable)."""
        try:
            response = httpx.get(f"{self.server}/readyz", verify=self.ssl_context(), timeout=2.0)
        except (httpx.HTTPError, OSError, ssl.SSLError):
            return False
        return response.status_code == 200 and response.text.strip() == "ok"


def kube_dir(cfg: StackConfig) -> Path:
    return cfg.run_dir / "kube"


def cluster_of(cfg: StackConfig) -> KubeCluster:
    return KubeCluster(
        kubeconfig=kube_dir(cfg) / "kubeconfig",
        server=f"https://{HOST}:{cfg.ports.kube_apiserver}",
        pki=Pki(kube_dir(cfg) / "pki"),
    )


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _write_kubeconfig(path: Path, cluster: KubeCluster, user_name: str, user: dict[str, str], namespace: str) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {"server": cluster.server, "certificate-authority-data": _b64(cluster.pki.ca_cert)},
            }
        ],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user_name, "namespace": namespace}}],
        "current-context": CONTEXT,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def write_kubeconfig(cfg: StackConfig, cluster: KubeCluster) -> Path:
    """A self-contained admin kubeconfig (certificates embedded), mode 0600: kubectl, helm and clients read it."""
    user = {"client-certificate-data": _b64(cluster.pki.admin_cert), "client-key-data": _b64(cluster.pki.admin_key)}
    return _write_kubeconfig(cluster.kubeconfig, cluster, f"{CONTEXT}-{cfg.name}-admin", user, "default")
