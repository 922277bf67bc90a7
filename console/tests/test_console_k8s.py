"""The console on Kubernetes: it follows GridPipeline resources through a real kube-apiserver with nothing but
read-only RBAC, so a pipeline applied with kubectl appears (and its alerts flow) without a restart."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from consoletesting import PAGE_HOOKS, ConsoleProcess, chromium, produce, wait_until
from gridpipe_console.kubernetes import RBAC_RULES
from gridpipe_jobs.topics import ensure_topics
from gridpipe_schemas.catalog import example
from gridpipe_schemas.crd import PLURAL
from gridpipe_schemas.pipeline import API_GROUP, API_VERSION, parse_pipeline
from gridpipe_stack.config import StackConfig
from gridpipe_stack.kube.cluster import KubeCluster
from jobtesting import rocket_document, unique

pytestmark = [pytest.mark.k8s, pytest.mark.integration]
ACCOUNT = "gridpipe-console"


def read_only_account(cluster: KubeCluster, namespace: str, kubeconfig: Path) -> Path:
    with cluster.api_client() as api_client:
        client.CoreV1Api(api_client).create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=ACCOUNT))
        )
        rbac = client.RbacAuthorizationV1Api(api_client)
        role: Any = {"metadata": {"name": ACCOUNT}, "rules": RBAC_RULES}
        rbac.create_namespaced_role(namespace, role)
        binding: Any = {
            "metadata": {"name": ACCOUNT},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": namespace}],
        }
        rbac.create_namespaced_role_binding(namespace, binding)
    return cluster.service_account_kubeconfig(namespace, ACCOUNT, kubeconfig)


def test_a_gridpipeline_applied_later_appears_with_its_status_and_alerts(
    local_stack: StackConfig, kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    kubeconfig = read_only_account(kube_cluster, kube_namespace, tmp_path / "kubeconfig")
    flags = ["--kubernetes", "--namespace", kube_namespace, "--kubeconfig", str(kubeconfig)]
    console = ConsoleProcess(local_stack, [], tmp_path / "console.log", extra=flags)
    console.start()
    try:
        with chromium() as browser:
            follow_one_pipeline(local_stack, kube_cluster, kube_namespace, console, browser)
    finally:
        console.stop()


def follow_one_pipeline(
    local_stack: StackConfig, kube_cluster: KubeCluster, kube_namespace: str, console: ConsoleProcess, browser: Any
) -> None:
    assert console.api("/api/pipelines")["pipelines"] == []
    page = browser.new_page()
    page.add_init_script(PAGE_HOOKS)
    page.goto(console.url + "/")
    page.evaluate("() => window.gridpipeConsole.ready")
    document = rocket_document(unique("k8s-console"))
    name = document["metadata"]["name"]
    pipeline = parse_pipeline(document)
    ensure_topics(pipeline, local_stack.kafka_bootstrap)
    where: dict[str, Any] = {
        "group": API_GROUP,
        "version": API_VERSION,
        "namespace": kube_namespace,
        "plural": PLURAL,
    }
    with kube_cluster.api_client() as api_client:
        custom = client.CustomObjectsApi(api_client)
        custom.create_namespaced_custom_object(body=document, **where)
        wait_until(
            lambda: [p["name"] for p in console.api("/api/pipelines")["pipelines"]] == [name],
            30,
            "the new GridPipeline in the console",
        )
        custom.patch_namespaced_custom_object_status(
            name=name, body={"status": {"phase": "Running", "jobState": "RUNNING"}}, **where
        )
        wait_until(
            lambda: console.api("/api/status")["pipelines"][0]["job"] == "RUNNING", 30, "the job state from status"
        )
        wait_until(lambda: console.api("/api/status")["pipelines"][0]["lag"] is not None, 60, "its topic assigned")
        alert = example("AnomalyAlert") | {"alertId": str(uuid.uuid4())}
        produce(local_stack.kafka_bootstrap, pipeline.spec.outputs.anomalies_topic, [json.dumps(alert).encode()])
        wait_until(lambda: console.api("/api/status")["pipelines"][0]["consumed"] == 1, 30, "its alert consumed")
        # The open page found the pipeline without a reload and shows its alert live.
        page.locator(f"#pipeline-filter input[data-pipeline={name}]").wait_for(timeout=15_000)
        page.locator(f"#live li.alert[data-pipeline={name}]").wait_for(timeout=15_000)

        custom.delete_namespaced_custom_object(name=name, **where)
        wait_until(lambda: console.api("/api/pipelines")["pipelines"] == [], 30, "the deleted pipeline gone")
        page.locator(f"#pipeline-filter input[data-pipeline={name}]").wait_for(state="detached", timeout=15_000)
    page.close()
