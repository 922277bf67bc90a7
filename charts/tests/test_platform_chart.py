"""The platform chart (charts/gridpipe) and the operator chart it includes: lint, the schema's descriptions, the
wiring of the rendered objects (one connections Secret that the operator can parse, names that meet), the operator
chart's review findings, and every rendered manifest of the default and the bring-your-own values accepted by the
real kube-apiserver (server-side dry-run) with the Strimzi, Flink, Prometheus-operator and gridpipe CRDs installed.

The apiserver has no kubelet: nothing here pulls an image or starts a pod.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gridpipe_console.kubernetes import RBAC_RULES
from gridpipe_operator.connections import INFLUX_KEYS, REQUIRED_KEYS, connections_from, decode_secret_data
from gridpipe_stack.kube.cluster import KubeCluster
from gridpipe_stack.kube.namespaces import delete_namespace

pytestmark = pytest.mark.k8s

CHARTS = Path(__file__).resolve().parents[1]
PLATFORM = CHARTS / "gridpipe"
OPERATOR = CHARTS / "gridpipe-operator"
BRING_YOUR_OWN = PLATFORM / "ci" / "bring-your-own-values.yaml"
RELEASE = "gp"
NAMESPACE = "gridpipe"
MONITORING = ("--api-versions", "monitoring.coreos.com/v1")
Documents = list[dict[str, Any]]


def run_helm(helm_binary: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(helm_binary), *args], capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def install_dry_run(helm: Path, kube_cluster: KubeCluster, namespace: str, *args: str) -> tuple[Documents, str]:
    """`helm install --dry-run=server` of the platform chart against the real apiserver (lookup sees its Secrets):
    the rendered documents and NOTES.txt."""
    done = run_helm(
        helm,
        "install",
        RELEASE,
        str(PLATFORM),
        "--kubeconfig",
        str(kube_cluster.kubeconfig),
        "--namespace",
        namespace,
        "--dry-run=server",
        *args,
    )
    manifest, _, notes = done.stdout.partition("NOTES:")
    return [d for d in yaml.safe_load_all(manifest.split("MANIFEST:", 1)[1]) if d], notes


@pytest.fixture(scope="module")
def helm(helm_binary: Path) -> Path:
    """helm, with the operator chart packed into charts/gridpipe/charts/ (a file:// dependency) as the tree has it."""
    run_helm(helm_binary, "dependency", "build", str(PLATFORM), "--skip-refresh")
    return helm_binary


def render(helm: Path, *args: str, namespace: str = NAMESPACE) -> Documents:
    out = run_helm(helm, "template", RELEASE, str(PLATFORM), "--namespace", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def one(documents: Documents, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}: {[d['metadata']['name'] for d in found]}"
    return found[0]


def kinds(documents: Documents) -> set[str]:
    return {d["kind"] for d in documents}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def container_of(documents: Documents, kind: str, name: str) -> dict[str, Any]:
    (container,) = one(documents, kind, name)["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def connections(documents: Documents, namespace: str = NAMESPACE) -> dict[str, str]:
    secret = next(
        d
        for d in documents
        if d["kind"] == "Secret"
        and d["metadata"]["name"] == "gridpipe-connections"
        and d["metadata"]["namespace"] == namespace
    )
    return decode_secret_data(secret["data"])


# --- lint and schema


def test_both_charts_lint_strict_with_default_and_bring_your_own_values(helm: Path) -> None:
    run_helm(helm, "lint", "--strict", str(OPERATOR))
    run_helm(helm, "lint", "--strict", str(PLATFORM))
    run_helm(helm, "lint", "--strict", str(PLATFORM), "-f", str(BRING_YOUR_OWN))


def undescribed(schema: dict[str, Any], where: str = "") -> Iterator[str]:
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{where}.{name}".lstrip(".")
        if "description" not in sub:
            yield path
        yield from undescribed(sub, path)


@pytest.mark.parametrize("chart", [PLATFORM, OPERATOR], ids=lambda p: p.name)
def test_every_value_has_a_description(chart: Path) -> None:
    schema = json.loads((chart / "values.schema.json").read_text())
    assert not list(undescribed(schema))
    values = yaml.safe_load((chart / "values.yaml").read_text())
    described = set(schema["properties"])
    assert set(values) <= described, f"values without a schema entry: {set(values) - described}"


def test_values_schema_refuses_bad_values(helm: Path) -> None:
    done = run_helm(
        helm,
        "template",
        RELEASE,
        str(PLATFORM),
        "--set",
        "registry.storage=disk",
        "--set",
        "monitoring.enabled=maybe",
        "--set",
        "kafka.nodePool.storage.type=tape",
        check=False,
    )
    assert done.returncode != 0
    for value in ("registry.storage", "monitoring.enabled", "kafka.nodePool.storage.type"):
        assert value.replace(".", "/") in done.stderr or value in done.stderr, done.stderr


def test_bring_your_own_without_endpoints_names_what_is_missing(helm: Path) -> None:
    done = run_helm(helm, "template", RELEASE, str(PLATFORM), "--set", "kafka.enabled=false", check=False)
    assert done.returncode != 0
    assert "kafka.external.bootstrapServers is required" in done.stderr


@pytest.mark.parametrize("chart", [OPERATOR, PLATFORM], ids=lambda p: p.name)
def test_helm_unittest_suites_of_every_template_pass(helm: Path, helm_unittest_binary: Path, chart: Path) -> None:
    """The per-template suites in <chart>/tests/*_test.yaml (helm-unittest), every template covered by one."""
    suites = [yaml.safe_load(p.read_text()) for p in sorted((chart / "tests").glob("*_test.yaml"))]
    covered = {t for suite in suites for t in suite["templates"]}
    templates = {f"templates/{p.name}" for p in (chart / "templates").glob("*.yaml")}
    assert templates <= covered, f"templates without a suite: {sorted(templates - covered)}"
    done = subprocess.run(
        [str(helm_unittest_binary), "--strict", str(chart)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Test Suites: {len(suites)} passed" in done.stdout, done.stdout


# --- the default platform


def test_default_install_has_every_component_wired_to_one_connections_secret(helm: Path) -> None:
    documents = render(helm)
    assert {
        "Kafka",
        "KafkaNodePool",
        "StatefulSet",
        "Deployment",
        "Service",
        "Secret",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "ClusterRole",
        "ClusterRoleBinding",
    } <= kinds(documents)
    assert not kinds(documents) & {"PodMonitor", "ServiceMonitor"}, "monitoring is off when its API is not served"

    # The Secret holds every key the operator requires, and it parses as the operator parses it.
    values = connections(documents)
    assert set(REQUIRED_KEYS) | set(INFLUX_KEYS) <= set(values)
    parsed = connections_from(values, f"{NAMESPACE}/gridpipe-connections")
    assert parsed.influxdb is not None

    # Each endpoint names a Service (or Strimzi's bootstrap Service of the rendered Kafka) on its port.
    kafka = one(documents, "Kafka")
    assert parsed.bootstrap_servers == f"{kafka['metadata']['name']}-kafka-bootstrap.{NAMESPACE}.svc:9092"
    assert one(documents, "KafkaNodePool")["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    services = {
        d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]} for d in documents if d["kind"] == "Service"
    }
    for url in (parsed.schema_registry_url, parsed.s3.endpoint, parsed.influxdb.url):
        host, _, port = url.split("://")[1].split("/")[0].rpartition(":")
        service = host.removesuffix(f".{NAMESPACE}.svc")
        assert int(port) in services[service], url
    assert parsed.schema_registry_url.endswith("/apis/ccompat/v7")

    # The operator reads that Secret and labels topics for that Kafka.
    operator_env = env_of(container_of(documents, "Deployment", RELEASE))
    assert operator_env["GRIDPIPE_OPERATOR_CONNECTIONS_SECRET"] == "gridpipe-connections"
    assert operator_env["GRIDPIPE_OPERATOR_KAFKA_CLUSTER"] == kafka["metadata"]["name"]
    assert operator_env["GRIDPIPE_OPERATOR_FLINK_IMAGE"] == "gridpipe/flink-job:0.1.0"
    assert container_of(documents, "Deployment", RELEASE)["image"] == "gridpipe/operator:0.1.0"

    # MinIO and InfluxDB take their credentials from the keys the operator and Flink pods use.
    minio = env_of(container_of(documents, "StatefulSet", f"{RELEASE}-minio"))
    assert minio["MINIO_ROOT_USER"]["secretKeyRef"] == {"name": "gridpipe-connections", "key": "AWS_ACCESS_KEY_ID"}
    assert minio["MINIO_ROOT_PASSWORD"]["secretKeyRef"]["key"] == "AWS_SECRET_ACCESS_KEY"
    influx = env_of(container_of(documents, "StatefulSet", f"{RELEASE}-influxdb"))
    assert influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]["secretKeyRef"]["key"] == "GRIDPIPE_INFLUXDB_TOKEN"
    assert influx["DOCKER_INFLUXDB_INIT_ORG"] == parsed.influxdb.org

    # The registry keeps schemas in the same Kafka.
    registry = env_of(container_of(documents, "Deployment", f"{RELEASE}-registry"))
    assert registry["APICURIO_STORAGE_KIND"] == "kafkasql"
    assert registry["APICURIO_KAFKASQL_BOOTSTRAP_SERVERS"] == parsed.bootstrap_servers


def test_console_reads_the_same_services_with_read_only_rbac_and_a_token(helm: Path) -> None:
    documents = render(helm)
    name = f"{RELEASE}-console"
    container = container_of(documents, "Deployment", name)
    env = env_of(container)
    parsed = connections_from(connections(documents), "x/y")
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == parsed.bootstrap_servers
    assert env["GRIDPIPE_SCHEMA_REGISTRY_URL"] == parsed.schema_registry_url
    assert parsed.influxdb is not None and env["GRIDPIPE_INFLUXDB_URL"] == parsed.influxdb.url
    assert env["GRIDPIPE_INFLUXDB_TOKEN"]["secretKeyRef"]["key"] == "GRIDPIPE_INFLUXDB_TOKEN"
    assert container["image"] == "gridpipe/console:0.1.0"
    assert "--kubernetes" in container["args"] and "--host=0.0.0.0" in container["args"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}

    # The token file is the generated Secret, mounted where --token-file points.
    (token_arg,) = [a for a in container["args"] if a.startswith("--token-file=")]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "token"]
    assert token_arg.removeprefix("--token-file=") == f"{mount['mountPath']}/token"
    pod = one(documents, "Deployment", name)["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "token"]
    token = one(documents, "Secret", volume["secret"]["secretName"])
    assert len(base64.b64decode(token["data"]["token"])) >= 16

    role = one(documents, "ClusterRole", name)
    assert role["rules"] == RBAC_RULES
    binding = one(documents, "ClusterRoleBinding", name)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]
    assert pod["serviceAccountName"] == name
    assert one(documents, "Service", name)["spec"]["ports"][0]["port"] == 8088


def test_monitoring_follows_the_prometheus_operator_api(helm: Path) -> None:
    documents = render(helm, *MONITORING)
    monitors = {d["metadata"]["name"] for d in documents if d["kind"] in {"PodMonitor", "ServiceMonitor"}}
    assert monitors == {
        f"{RELEASE}-{c}" for c in ("operator", "console", "kafka", "flink-jobs", "registry", "influxdb", "minio")
    }
    console = one(documents, "PodMonitor", f"{RELEASE}-console")
    credentials = console["spec"]["podMetricsEndpoints"][0]["authorization"]["credentials"]
    assert credentials["name"] == f"{RELEASE}-console-token"
    assert not kinds(render(helm, *MONITORING, "--set", "monitoring.enabled=false")) & {"PodMonitor"}
    assert "PodMonitor" in kinds(render(helm, "--set", "monitoring.enabled=true"))


def test_prometheus_rule_carries_the_repository_rules(helm: Path) -> None:
    """The chart's PrometheusRule holds exactly the groups of dashboards/rules/*.yml (its copies are current)."""
    rule = one(render(helm, *MONITORING), "PrometheusRule", f"{RELEASE}-rules")
    sources = sorted((CHARTS.parent / "dashboards" / "rules").glob("*.yml"))
    groups = [group for path in sources for group in yaml.safe_load(path.read_text())["groups"]]
    assert sorted(rule["spec"]["groups"], key=lambda g: g["name"]) == sorted(groups, key=lambda g: g["name"])
    assert "PrometheusRule" not in kinds(render(helm, *MONITORING, "--set", "monitoring.prometheusRule.enabled=false"))


def test_each_service_accepts_only_its_port(helm: Path) -> None:
    documents = render(helm)
    policies = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "NetworkPolicy"}
    assert set(policies) == {f"{RELEASE}-{c}" for c in ("registry", "influxdb", "minio", "console", "operator")}
    assert policies[f"{RELEASE}-minio"]["ingress"][0]["ports"] == [{"port": "s3"}]
    listener = one(documents, "Kafka")["spec"]["kafka"]["listeners"][0]
    assert listener["networkPolicyPeers"] == policies[f"{RELEASE}-registry"]["ingress"][0]["from"]
    assert not kinds(render(helm, "--set", "networkPolicy.enabled=false")) & {"NetworkPolicy"}


# --- bring your own


def test_bring_your_own_points_everything_at_the_services_given(helm: Path) -> None:
    documents = render(helm, "-f", str(BRING_YOUR_OWN))
    assert not kinds(documents) & {"Kafka", "KafkaNodePool", "StatefulSet", "ClusterRole", "ClusterRoleBinding"}
    assert {d["metadata"]["name"] for d in documents if d["kind"] == "Deployment"} == {RELEASE, f"{RELEASE}-console"}
    for namespace in (NAMESPACE, "pipelines"):
        values = connections(documents, namespace)
        assert values["KAFKA_BOOTSTRAP_SERVERS"] == "shared-kafka-kafka-bootstrap.kafka.svc:9092"
        assert values["SCHEMA_REGISTRY_URL"] == "https://registry.example.com/apis/ccompat/v7"
        assert values["S3_ENDPOINT"] == "https://s3.eu-west-1.amazonaws.com"
        assert values["GRIDPIPE_INFLUXDB_URL"] == "https://influxdb.example.com"
        # helm template cannot look up the Secrets brought, so their keys are left out (NOTES.txt warns)
        assert "AWS_SECRET_ACCESS_KEY" not in values

    console = container_of(documents, "Deployment", f"{RELEASE}-console")
    assert env_of(console)["GRIDPIPE_INFLUXDB_TOKEN"] == {"secretKeyRef": {"name": "influxdb-gridpipe", "key": "token"}}
    assert "--namespace=pipelines" in console["args"]
    assert one(documents, "Role", f"{RELEASE}-console")["metadata"]["namespace"] == "pipelines"
    pod = one(documents, "Deployment", f"{RELEASE}-console")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}

    operator = one(documents, "Deployment", RELEASE)["spec"]["template"]["spec"]
    assert operator["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert operator["tolerations"][0]["key"] == "dedicated"
    assert operator["containers"][0]["image"] == "registry.example.com/gridpipe/operator:0.1.0"
    assert one(documents, "Role", RELEASE)["metadata"]["namespace"] == "pipelines"


# --- the operator chart's review findings


def render_operator(helm: Path, *args: str) -> Documents:
    out = run_helm(helm, "template", RELEASE, str(OPERATOR), "--namespace", NAMESPACE, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_operator_scrape_annotation_follows_the_metrics_port(helm: Path) -> None:
    documents = render_operator(helm, "--set", "ports.metrics=9191")
    annotations = one(documents, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "9191"
    assert {p["containerPort"] for p in container_of(documents, "Deployment", RELEASE)["ports"]} == {8080, 9191}
    off = render_operator(helm, "--set", "metrics.scrapeAnnotations=false")
    assert "annotations" not in one(off, "Deployment")["spec"]["template"]["metadata"]


def test_operator_watching_namespaces_gets_roles_not_a_cluster_role(helm: Path) -> None:
    documents = render_operator(helm, "--set", "watchNamespaces={team-a,team-b}")
    assert not kinds(documents) & {"ClusterRole", "ClusterRoleBinding"}
    roles = [d for d in documents if d["kind"] == "Role"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    bindings = [d for d in documents if d["kind"] == "RoleBinding"]
    assert {b["subjects"][0]["namespace"] for b in bindings} == {NAMESPACE}
    resources = {r for rule in roles[0]["rules"] for r in rule["resources"]}
    assert "clusterkopfpeerings" not in resources and "kopfpeerings" in resources
    discovery = render_operator(helm, "--set", "watchNamespaces={team-a}", "--set", "rbac.clusterDiscovery=true")
    (cluster_role,) = [d for d in discovery if d["kind"] == "ClusterRole"]
    assert {v for rule in cluster_role["rules"] for v in rule["verbs"]} == {"list", "watch"}


def test_operator_scheduling_and_pull_secrets(helm: Path) -> None:
    documents = render_operator(
        helm,
        "--set",
        "nodeSelector.pool=ops",
        "--set",
        "tolerations[0].key=ops,tolerations[0].operator=Exists",
        "--set",
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=x",
        "--set",
        "imagePullSecrets={pull}",
    )
    pod = one(documents, "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "ops"}
    assert pod["tolerations"] == [{"key": "ops", "operator": "Exists"}]
    assert "nodeAffinity" in pod["affinity"]
    assert pod["imagePullSecrets"] == [{"name": "pull"}]
    assert one(documents, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert "PodDisruptionBudget" not in kinds(render_operator(helm, "--set", "replicas=1"))


# --- the real kube-apiserver


def kubectl(cluster: KubeCluster, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("kubectl")
    assert executable, "kubectl is not on PATH (it ships with the machine image)"
    return subprocess.run(
        [executable, "--kubeconfig", str(cluster.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def namespaces(kube_cluster: KubeCluster) -> Iterator[dict[str, str]]:
    """The release namespace and the bring-your-own pipelines namespace, fresh for each test."""
    suffix = uuid.uuid4().hex[:6]
    names = {"release": f"gp-{suffix}", "pipelines": f"pipelines-{suffix}"}
    with kube_cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        for name in names.values():
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield names
    finally:
        with kube_cluster.api_client() as api_client:
            for name in names.values():
                delete_namespace(api_client, name)


CLUSTER_SCOPED = {"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
VALUE_SETS = {
    "default": (),
    "default-with-monitoring": ("--set", "monitoring.enabled=true"),
    "bring-your-own": ("-f", str(BRING_YOUR_OWN)),
}


def pipelines_namespace(namespaces: dict[str, str]) -> list[str]:
    """Values that point the connections Secret, the operator and the console at the test's pipelines namespace."""
    pipelines = namespaces["pipelines"]
    return [
        *("--set", f"connections.extraNamespaces={{{pipelines}}}"),
        *("--set", f"operator.watchNamespaces={{{pipelines}}}"),
        *("--set", f"console.watchNamespace={pipelines}"),
    ]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_rendered_manifest_passes_server_side_dry_run(
    helm: Path, kube_cluster: KubeCluster, namespaces: dict[str, str], value_set: str
) -> None:
    args = [*VALUE_SETS[value_set], "--include-crds"]
    if value_set == "bring-your-own":
        args += pipelines_namespace(namespaces)
    documents = render(helm, *args, namespace=namespaces["release"])
    assert len(documents) > 10
    unplaced = [
        d["metadata"]["name"] for d in documents if d["kind"] not in CLUSTER_SCOPED and "namespace" not in d["metadata"]
    ]
    assert not unplaced, f"namespaced objects without a namespace: {unplaced}"
    manifest = yaml.safe_dump_all(documents)
    done = kubectl(
        kube_cluster,
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=gridpipe-chart-test",
        "-f",
        "-",
        stdin=manifest,
    )
    assert done.returncode == 0, done.stderr
    accepted = [line for line in done.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == len(documents), done.stdout


def test_install_copies_the_credentials_brought_into_the_connections_secret(
    helm: Path, kube_cluster: KubeCluster, namespaces: dict[str, str]
) -> None:
    """`helm install --dry-run=server` looks up the Secrets named in the bring-your-own values on the real apiserver."""
    release = namespaces["release"]
    with kube_cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        for name, data in (
            ("s3-gridpipe", {"access-key": "AKIAEXAMPLE", "secret-key": "s3-secret-example"}),
            ("influxdb-gridpipe", {"token": "influx-token-example"}),
        ):
            core.create_namespaced_secret(
                release, client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data)
            )
    documents, notes = install_dry_run(
        helm,
        kube_cluster,
        release,
        "-f",
        str(BRING_YOUR_OWN),
        *pipelines_namespace(namespaces),
        # kopf's peering CRDs may exist already, installed by another test of this session rather than by helm
        "--set",
        "operator.peering.installCrd=false",
    )
    for namespace in (release, namespaces["pipelines"]):
        values = connections(documents, namespace)
        parsed = connections_from(values, f"{namespace}/gridpipe-connections")
        assert (parsed.s3.access_key, parsed.s3.secret_key) == ("AKIAEXAMPLE", "s3-secret-example")
        assert parsed.influxdb is not None and parsed.influxdb.token == "influx-token-example"
    assert "WARNING" not in notes
    assert "kubectl -n" in notes and "port-forward" in notes


def test_generated_credentials_survive_an_upgrade(
    helm: Path, kube_cluster: KubeCluster, namespaces: dict[str, str]
) -> None:
    """Credentials generated at install are read back with lookup: a render against a cluster that has the release's
    Secrets keeps their values (what `helm upgrade` does), while endpoints still follow the values."""
    release = namespaces["release"]
    kept = {"AWS_ACCESS_KEY_ID": "gridpipe", "AWS_SECRET_ACCESS_KEY": "s" * 40, "GRIDPIPE_INFLUXDB_TOKEN": "t" * 64}
    owned = client.V1ObjectMeta(
        labels={"app.kubernetes.io/managed-by": "Helm"},
        annotations={"meta.helm.sh/release-name": RELEASE, "meta.helm.sh/release-namespace": release},
    )
    with kube_cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        for name, data in (
            ("gridpipe-connections", {**kept, "S3_ENDPOINT": "http://old:9000"}),
            (f"{RELEASE}-console-token", {"token": "c" * 48}),
            (f"{RELEASE}-influxdb-admin", {"password": "p" * 32}),
        ):
            meta = client.V1ObjectMeta(name=name, labels=owned.labels, annotations=owned.annotations)
            core.create_namespaced_secret(release, client.V1Secret(metadata=meta, string_data=data))
    documents, notes = install_dry_run(
        helm,
        kube_cluster,
        release,
        "--set",
        "operator.peering.installCrd=false",
        "--set",
        "console.watchNamespace=" + release,
    )
    values = connections(documents, release)
    assert {key: values[key] for key in kept} == kept
    assert values["S3_ENDPOINT"] == f"http://{RELEASE}-minio.{release}.svc:9000"
    assert base64.b64decode(one(documents, "Secret", f"{RELEASE}-console-token")["data"]["token"]) == b"c" * 48
    assert base64.b64decode(one(documents, "Secret", f"{RELEASE}-influxdb-admin")["data"]["password"]) == b"p" * 32
    assert f"kubectl -n {release} wait kafka/gridpipe" in notes
