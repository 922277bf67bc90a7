"""The real test cluster: kube-apiserver on etcd, the CRDs it serves, what it accepts and what it rejects."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gridpipe_schemas.paths import default_cache_dir
from gridpipe_stack.kube.cluster import KubeCluster
from gridpipe_stack.kube.crds import FLINK_2_VERSIONS, load_crds
from gridpipe_stack.maven import load_lock
from gridpipe_stack.versions import FLINK_KUBERNETES_OPERATOR

pytestmark = pytest.mark.k8s

REPO = Path(__file__).resolve().parents[3]
GC_TIMEOUT = 20.0
FLINK_DEPLOYMENTS = "flinkdeployments.flink.apache.org"
CRDS = (
    "gridpipelines.gridpipe.io",
    FLINK_DEPLOYMENTS,
    "flinksessionjobs.flink.apache.org",
    "kafkatopics.kafka.strimzi.io",
)


def kubectl(
    cluster: KubeCluster, *args: str, stdin: str | None = None, kubeconfig: Path | None = None
) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("kubectl")
    assert executable, "kubectl is not on PATH (it ships with the machine image)"
    return subprocess.run(
        [executable, "--kubeconfig", str(kubeconfig or cluster.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def apply(cluster: KubeCluster, namespace: str, document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return kubectl(cluster, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(document))


def grid_pipeline() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "examples" / "grid.yaml").read_text())
    return document


def rocket_pipeline() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "examples" / "rocket.yaml").read_text())
    return document


def flink_deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "flink.apache.org/v1beta1",
        "kind": "FlinkDeployment",
        "metadata": {"name": name},
        "spec": {
            "image": "flink:2.2",
            "flinkVersion": "v2_2",
            "serviceAccount": "flink",
            "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "2"},
            "jobManager": {"resource": {"memory": "1024m", "cpu": 1}},
            "taskManager": {"resource": {"memory": "2048m", "cpu": 1}},
            "job": {
                "jarURI": "local:///opt/flink/opt/flink-python.jar",
                "entryClass": "org.apache.flink.client.python.PythonDriver",
                "args": ["-pym", "gridpipe_jobs.job", "--pipeline-json", "{}"],
                "parallelism": 1,
                "upgradeMode": "savepoint",
            },
        },
    }


def kafka_topic(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": "gridpipe"}},
        "spec": {"partitions": 3, "replicas": 1, "config": {"retention.ms": 86400000}},
    }


def test_apiserver_is_ready_and_every_crd_established(kube_cluster: KubeCluster) -> None:
    response = httpx.get(f"{kube_cluster.server}/readyz", verify=kube_cluster.ssl_context(), timeout=5)
    assert (response.status_code, response.text) == (200, "ok")
    with kube_cluster.api_client() as api_client:
        api = client.ApiextensionsV1Api(api_client)
        for name in CRDS:
            crd = api_client.sanitize_for_serialization(api.read_custom_resource_definition(name))
            conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
            assert conditions.get("Established") == "True", name
            assert conditions.get("NamesAccepted") == "True", name
    whoami = kubectl(kube_cluster, "get", "--raw", "/version")
    assert whoami.returncode == 0 and '"gitVersion"' in whoami.stdout


def test_valid_grid_and_rocket_pipelines_are_accepted(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    for document in (grid_pipeline(), rocket_pipeline()):
        done = apply(kube_cluster, kube_namespace, document)
        assert done.returncode == 0, done.stderr
    listed = kubectl(kube_cluster, "get", "gp", "-n", kube_namespace, "-o", "name")
    assert sorted(listed.stdout.split()) == [f"gridpipeline.gridpipe.io/{n}" for n in ("grid-demo", "rocket-demo")]


BAD_SPECS = {
    "threshold-5.0": ("grid", ("detection", "zscore"), {"threshold": 5.0}, "should be less than or equal to 4"),
    "malformed-window": ("grid", ("detection", "zscore"), {"window": "5 minutes"}, "should match '^([0-9]+"),
    "bucket-over-window": ("grid", ("detection", "zscore"), {"bucket": "10m"}, "bucket must not be longer than window"),
    "min-above-max": ("rocket", ("detection", "rules", 0), {"min": 90.0, "max": 10.0}, "min must not be greater"),
}


@pytest.mark.parametrize("case", BAD_SPECS.keys())
def test_bad_pipeline_is_rejected_by_kubectl_apply_with_its_message(
    kube_cluster: KubeCluster, kube_namespace: str, case: str
) -> None:
    example, path, change, message = BAD_SPECS[case]
    document = grid_pipeline() if example == "grid" else rocket_pipeline()
    target = document["spec"]
    for key in path:
        target = target[key]
    target.update(change)
    done = apply(kube_cluster, kube_namespace, document)
    assert done.returncode != 0
    assert "is invalid" in done.stderr and message in done.stderr, done.stderr


def create(cluster: KubeCluster, namespace: str, document: dict[str, Any]) -> dict[str, Any]:
    group, version = document["apiVersion"].split("/")
    plural = document["kind"].lower() + "s"
    with cluster.api_client() as api_client:
        created = client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            group, version, namespace, plural, document
        )
    assert isinstance(created, dict)
    return created


def rejection(cluster: KubeCluster, namespace: str, document: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as caught:
        create(cluster, namespace, document)
    assert caught.value.status == 422, caught.value.body
    message = json.loads(str(caught.value.body))["message"]
    assert isinstance(message, str)
    return message


def test_flink_deployment_schema_is_enforced(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    created = create(kube_cluster, kube_namespace, flink_deployment("good"))
    assert created["spec"]["job"]["upgradeMode"] == "savepoint"

    bad_mode = copy.deepcopy(flink_deployment("bad-mode"))
    bad_mode["spec"]["job"]["upgradeMode"] = "restart-from-scratch"
    assert 'Unsupported value: "restart-from-scratch"' in rejection(kube_cluster, kube_namespace, bad_mode)

    bad_type = flink_deployment("bad-type")
    bad_type["spec"]["job"]["parallelism"] = "two"
    assert "spec.job.parallelism" in rejection(kube_cluster, kube_namespace, bad_type)

    bad_version = flink_deployment("bad-version")
    bad_version["spec"]["flinkVersion"] = "v3_0"
    assert "spec.flinkVersion" in rejection(kube_cluster, kube_namespace, bad_version)


def test_flink_2_versions_are_served(kube_cluster: KubeCluster) -> None:
    with kube_cluster.api_client() as api_client:
        api = client.ApiextensionsV1Api(api_client)
        crd = api_client.sanitize_for_serialization(api.read_custom_resource_definition(FLINK_DEPLOYMENTS))
    (version,) = crd["spec"]["versions"]
    enum = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["flinkVersion"]["enum"]
    assert enum[-len(FLINK_2_VERSIONS) :] == list(FLINK_2_VERSIONS)
    assert "v1_20" in enum


def strip_flink_2_versions(document: Any) -> Any:
    if isinstance(document, dict):
        return {
            k: [e for e in v if e not in FLINK_2_VERSIONS] if k == "enum" else strip_flink_2_versions(v)
            for k, v in document.items()
        }
    if isinstance(document, list):
        return [strip_flink_2_versions(item) for item in document]
    return document


def test_installed_flink_crds_equal_the_operator_jar_but_for_the_added_versions(kube_cluster: KubeCluster) -> None:
    (jar_entry,) = load_lock()["flink-operator-api"]
    jar = default_cache_dir() / "maven" / jar_entry.path
    with zipfile.ZipFile(jar) as archive:
        for name in (n for n in archive.namelist() if n.endswith(".flink.apache.org-v1.yml")):
            original = yaml.safe_load(archive.read(name))
            installed = next(d for d in load_crds(kube_cluster_crd_files()) if d["metadata"] == original["metadata"])
            assert (installed != original) == ("flinkdeployments" in name)
            assert strip_flink_2_versions(installed) == original


def kube_cluster_crd_files() -> list[Path]:
    return sorted((default_cache_dir() / "crds" / f"flink-kubernetes-operator-{FLINK_KUBERNETES_OPERATOR}").glob("*"))


def test_kafka_topic_schema_is_enforced(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    created = create(kube_cluster, kube_namespace, kafka_topic("readings"))
    assert created["spec"]["partitions"] == 3

    no_partitions = kafka_topic("zero")
    no_partitions["spec"]["partitions"] = 0
    assert "spec.partitions" in rejection(kube_cluster, kube_namespace, no_partitions)

    wrong_type = kafka_topic("wrong")
    wrong_type["spec"]["replicas"] = "one"
    assert "spec.replicas" in rejection(kube_cluster, kube_namespace, wrong_type)


def test_status_subresource_is_writable_as_the_flink_operator_would(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    create(kube_cluster, kube_namespace, flink_deployment("job"))
    with kube_cluster.api_client() as api_client:
        api = client.CustomObjectsApi(api_client)
        status = {"status": {"jobStatus": {"state": "FAILED"}, "error": "boom"}}
        where = ("flink.apache.org", "v1beta1", kube_namespace, "flinkdeployments", "job")
        api.patch_namespaced_custom_object_status(*where, status)
        live = api.get_namespaced_custom_object(*where)
    assert isinstance(live, dict)
    assert live["status"]["jobStatus"]["state"] == "FAILED"


def test_namespace_fixture_removes_objects_held_by_finalizers(kube_cluster: KubeCluster) -> None:
    from gridpipe_stack.kube.namespaces import delete_namespace

    with kube_cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="finalizer-check")))
        document = grid_pipeline()
        document["metadata"]["finalizers"] = ["kopf.zalando.org/KopfFinalizerMarker"]
        create(kube_cluster, "finalizer-check", document)
        delete_namespace(api_client, "finalizer-check")
        with pytest.raises(ApiException) as caught:
            core.read_namespace("finalizer-check")
    assert caught.value.status == 404


def test_garbage_collector_deletes_children_of_a_deleted_owner(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    owner = create(kube_cluster, kube_namespace, grid_pipeline())
    child = kafka_topic("grid-demo-input")
    child["metadata"]["ownerReferences"] = [
        {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    create(kube_cluster, kube_namespace, child)
    topic = ("kafka.strimzi.io", "v1", kube_namespace, "kafkatopics", "grid-demo-input")
    with kube_cluster.api_client() as api_client:
        api = client.CustomObjectsApi(api_client)
        api.delete_namespaced_custom_object("gridpipe.io", "v1alpha1", kube_namespace, "gridpipelines", "grid-demo")
        deadline = time.monotonic() + GC_TIMEOUT
        while time.monotonic() < deadline:
            try:
                api.get_namespaced_custom_object(*topic)
            except ApiException as error:
                assert error.status == 404
                return
            time.sleep(0.1)
    pytest.fail(f"the KafkaTopic owned by a deleted GridPipeline still exists after {GC_TIMEOUT}s")


def test_every_namespace_gets_a_default_service_account(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        deadline = time.monotonic() + GC_TIMEOUT
        while not core.list_namespaced_service_account(kube_namespace).items:
            assert time.monotonic() < deadline, "no default ServiceAccount appeared"
            time.sleep(0.1)


def test_service_account_kubeconfig_is_held_to_its_rbac(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    rbac = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "read-configmaps"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": kube_namespace}],
        },
    ]
    done = kubectl(kube_cluster, "apply", "-n", kube_namespace, "-f", "-", stdin=yaml.safe_dump_all(rbac))
    assert done.returncode == 0, done.stderr
    reader = kube_cluster.service_account_kubeconfig(kube_namespace, "reader", tmp_path / "reader.kubeconfig")
    allowed = kubectl(kube_cluster, "get", "configmaps", "-n", kube_namespace, kubeconfig=reader)
    assert allowed.returncode == 0, allowed.stderr
    denied = kubectl(kube_cluster, "get", "secrets", "-n", kube_namespace, kubeconfig=reader)
    assert denied.returncode != 0
    assert f'User "system:serviceaccount:{kube_namespace}:reader" cannot list resource "secrets"' in denied.stderr


def test_helm_lints_renders_and_installs_a_chart(
    kube_cluster: KubeCluster, kube_namespace: str, helm_binary: Path, tmp_path: Path
) -> None:
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n  kubeVersion: {{ .Capabilities.KubeVersion.Version }}\n"
    )
    env = {"HOME": str(tmp_path), "KUBECONFIG": str(kube_cluster.kubeconfig), "PATH": "/usr/bin:/bin"}

    def helm(*args: str) -> str:
        done = subprocess.run([str(helm_binary), *args], capture_output=True, text=True, timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "1 chart(s) linted, 0 chart(s) failed" in helm("lint", str(chart))
    rendered = list(yaml.safe_load_all(helm("template", "demo", str(chart), "--set", "greeting=hi")))
    assert rendered[0]["data"]["greeting"] == "hi"
    helm("install", "demo", str(chart), "-n", kube_namespace, "--wait", "--timeout", "60s")
    with kube_cluster.api_client() as api_client:
        data = client.CoreV1Api(api_client).read_namespaced_config_map("demo-cm", kube_namespace).data or {}
    assert data["greeting"] == "hello"
    assert data["kubeVersion"].startswith("v1.")
    helm("uninstall", "demo", "-n", kube_namespace)
