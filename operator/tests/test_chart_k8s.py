"""The Helm chart: lint, templates in install order, and its RBAC proven sufficient by running the operator under its
ServiceAccount's token; two replicas under peering, one working at a time."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, utils

from gridpipe_stack.kube.cluster import KubeCluster
from operatortesting import OperatorProcess

from .conftest import Api, unreachable_connections, wait_for
from .test_operator_k8s import all_children, grid_document, job_threshold

pytestmark = pytest.mark.k8s
CHART = Path(__file__).resolve().parents[2] / "charts" / "gridpipe-operator"
PEERING_RESOURCES = {"kopfpeerings", "clusterkopfpeerings"}
RESYNC_SECONDS = 5  # the shortest the operator accepts


def helm(helm_binary: Path, *args: str) -> str:
    done = subprocess.run([str(helm_binary), *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def rendered(helm_binary: Path, *args: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(helm(helm_binary, "template", "gp", str(CHART), *args)) if d]


def test_chart_lints_and_renders_in_install_order(helm_binary: Path) -> None:
    helm(helm_binary, "lint", str(CHART), "--strict")
    documents = rendered(helm_binary, "--namespace", "ops")
    assert [d["kind"] for d in documents] == [
        "PodDisruptionBudget",
        "ServiceAccount",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "Service",
        "Deployment",
    ]
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"health": 8080, "metrics": 9090}
    assert "--peering=gridpipe-operator" in container["args"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "gp"


def test_values_schema_refuses_bad_values(helm_binary: Path) -> None:
    done = subprocess.run(
        [str(helm_binary), "template", "gp", str(CHART), "--set", "replicas=9", "--set", "logFormat=xml"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "replicas" in done.stderr and "logFormat" in done.stderr


def install_peering_crds(api_client: client.ApiClient, helm_binary: Path) -> None:
    for crd in rendered(helm_binary, "--show-only", "templates/01-peering-crds.yaml"):
        try:
            utils.create_from_dict(api_client, crd)  # type: ignore[no-untyped-call]
        except utils.FailToCreateError as failed:
            if any(e.status != 409 for e in failed.api_exceptions):
                raise
    for name in ("kopfpeerings.kopf.dev", "clusterkopfpeerings.kopf.dev"):
        wait_for(partial(_established, api_client, name), f"{name} established")


def _established(api_client: client.ApiClient, name: str) -> bool:
    crd: Any = client.ApiextensionsV1Api(api_client).read_custom_resource_definition(name)
    return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])


def service_account_kubeconfig(kube_cluster: KubeCluster, helm_binary: Path, namespace: str, path: Path) -> Path:
    """Install the chart's ServiceAccount, ClusterRole and binding (release named after the namespace) and write a
    kubeconfig holding a token of that ServiceAccount."""
    release = f"gp-{namespace}"
    with kube_cluster.api_client() as api_client:
        install_peering_crds(api_client, helm_binary)
        for kind in ("00-serviceaccount", "02-roles", "03-rolebindings"):
            for document in yaml.safe_load_all(
                helm(helm_binary, "template", release, str(CHART), "-n", namespace, "-s", f"templates/{kind}.yaml")
            ):
                utils.create_from_dict(api_client, document, namespace=namespace)  # type: ignore[no-untyped-call]
    return kube_cluster.service_account_kubeconfig(namespace, release, path)


def peers(api: Api) -> dict[str, Any]:
    record: Any = api.custom.get_namespaced_custom_object(
        "kopf.dev", "v1", api.namespace, "kopfpeerings", "gridpipe-operator"
    )
    return dict(record.get("status") or {})


def test_chart_rbac_is_enough_and_two_replicas_take_turns(
    api: Api,
    kube_cluster: KubeCluster,
    helm_binary: Path,
    tmp_path: Path,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    kubeconfig = service_account_kubeconfig(kube_cluster, helm_binary, api.namespace, tmp_path / "sa.kubeconfig")
    api.create_connections(unreachable_connections())
    first = start_operator(kubeconfig=kubeconfig, peering="gridpipe-operator", priority=2)
    second = start_operator(kubeconfig=kubeconfig, peering="gridpipe-operator", priority=1)
    wait_for(lambda: len(peers(api)) == 2, "both replicas in the peering record", 20)

    api.create_pipeline(grid_document())
    wait_for(lambda: all_children(api, "grid-a"), "children, applied under the chart's RBAC")
    wait_for(lambda: (api.pipeline("grid-a") or {}).get("status"), "a status, written under the chart's RBAC")
    assert 'gridpipe_operator_reconciles_total{trigger="create"}' in first.metrics()
    assert 'gridpipe_operator_reconciles_total{trigger="create"}' not in second.metrics()

    first.stop()  # a graceful exit withdraws from peering: the other resumes at once
    api.patch_pipeline("grid-a", {"spec": {"detection": {"zscore": {"threshold": 3.0}}}})
    wait_for(lambda: job_threshold(api.flink("grid-a") or {}) == 3.0, "the second replica to take over", 30)
    assert "gridpipe_operator_reconciles_total{trigger=" in second.metrics()

    api.custom.delete_namespaced_custom_object("gridpipe.io", "v1alpha1", api.namespace, "gridpipelines", "grid-a")
    wait_for(lambda: all_children(api, "grid-a") is None and api.flink("grid-a") is None, "children deleted")


def reconciles(metrics: str, trigger: str) -> float:
    found = re.search(rf'^gridpipe_operator_reconciles_total{{trigger="{trigger}"}} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def described(event: dict[str, Any]) -> str:
    ref = event.get("objectRef") or {}
    code = (event.get("responseStatus") or {}).get("code")
    return f"{event['verb']} {ref.get('resource')}/{ref.get('subresource') or ''} {ref.get('name')} -> {code}"


def test_the_standby_writes_nothing_and_reads_no_credentials(
    api: Api,
    kube_cluster: KubeCluster,
    helm_binary: Path,
    tmp_path: Path,
    start_operator: Callable[..., OperatorProcess],
) -> None:
    """Chart defaults (two replicas, peering) with a short resync period: over several periods the standby makes no
    write at all besides its own peering keep-alive, and never reads the connections Secret, without which it cannot
    reach Apicurio, InfluxDB or S3. The apiserver's audit log says who did what; the active replica runs as admin,
    the standby as the chart's ServiceAccount."""
    kubeconfig = service_account_kubeconfig(kube_cluster, helm_binary, api.namespace, tmp_path / "sa.kubeconfig")
    standby_user = f"system:serviceaccount:{api.namespace}:gp-{api.namespace}"
    api.create_connections(unreachable_connections())
    resync = {"GRIDPIPE_OPERATOR_RESYNC_SECONDS": str(RESYNC_SECONDS)}
    active = start_operator(peering="gridpipe-operator", priority=2, **resync)
    standby = start_operator(kubeconfig=kubeconfig, peering="gridpipe-operator", priority=1, **resync)
    wait_for(lambda: len(peers(api)) == 2, "both replicas in the peering record", 20)

    api.create_pipeline(grid_document())
    wait_for(lambda: all_children(api, "grid-a"), "children, from the active replica")
    wait_for(lambda: (api.pipeline("grid-a") or {}).get("status"), "a status, from the active replica")
    wait_for(
        lambda: reconciles(active.metrics(), "resync") >= 2,
        "two resyncs by the active replica",
        timeout=3 * RESYNC_SECONDS + 5,
    )
    time.sleep(RESYNC_SECONDS)  # one more period for the standby, had it been resyncing in step

    by_standby = [
        event
        for event in kube_cluster.audit_events()
        if event["user"]["username"] == standby_user
        and (event.get("objectRef") or {}).get("resource") not in PEERING_RESOURCES
    ]
    assert not by_standby, "the standby wrote or read credentials:\n" + "\n".join(map(described, by_standby))
    assert "gridpipe_operator_reconciles_total{" not in standby.metrics(), "the standby reconciled"
