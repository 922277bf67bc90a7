"""Fixtures for the operator's tests against the real kube-apiserver: the operator as a real process watching the
test's own namespace, and the connections Secret it reads."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client

from gridpipe_stack.kube.cluster import KubeCluster
from operatortesting import OperatorProcess

T = TypeVar("T")
UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port: connections are refused at once
GROUP, VERSION, PLURAL = "gridpipe.io", "v1alpha1", "gridpipelines"


def wait_for(
    probe: Callable[[], T | None],
    what: str,
    timeout: float = 10.0,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


class Api:
    """The test's view of the cluster: typed shortcuts over the official client."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace

    def create_pipeline(self, document: dict[str, Any]) -> dict[str, Any]:
        result: Any = self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, document)
        return dict(result)

    def patch_pipeline(self, name: str, patch: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, patch, _content_type="application/merge-patch+json"
        )

    def pipeline(self, name: str) -> dict[str, Any] | None:
        return self.get(GROUP, VERSION, PLURAL, name)

    def get(self, group: str, version: str, plural: str, name: str) -> dict[str, Any] | None:
        try:
            found: Any = self.custom.get_namespaced_custom_object(group, version, self.namespace, plural, name)
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return dict(found)

    def topic(self, name: str) -> dict[str, Any] | None:
        return self.get("kafka.strimzi.io", "v1", "kafkatopics", name)

    def flink(self, name: str) -> dict[str, Any] | None:
        return self.get("flink.apache.org", "v1beta1", "flinkdeployments", name)

    def condition(self, name: str, kind: str) -> dict[str, Any] | None:
        for condition in ((self.pipeline(name) or {}).get("status") or {}).get("conditions", []):
            if condition["type"] == kind:
                return dict(condition)
        return None

    def create_connections(self, values: dict[str, str], name: str = "gridpipe-connections") -> None:
        data = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
        self.core.create_namespaced_secret(
            self.namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), data=data)
        )


def unreachable_connections() -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "SCHEMA_REGISTRY_URL": f"{UNREACHABLE}/apis/ccompat/v7",
        "S3_ENDPOINT": UNREACHABLE,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
    }


@pytest.fixture
def api(kube_cluster: KubeCluster, kube_namespace: str) -> Iterator[Api]:
    with kube_cluster.api_client() as api_client:
        yield Api(api_client, kube_namespace)


@pytest.fixture
def start_operator(
    kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start the operator (watching only the test's namespace); stopped at the end of the test."""
    started: list[OperatorProcess] = []

    def start(
        *, kubeconfig: Path | None = None, peering: str | None = None, priority: int | None = None, **env: str
    ) -> OperatorProcess:
        process = OperatorProcess(
            kubeconfig=kubeconfig or kube_cluster.kubeconfig,
            log=tmp_path / f"operator-{len(started)}.log",
            namespaces=(kube_namespace,),
            peering=peering,
            priority=priority,
            env={"GRIDPIPE_OPERATOR_TOPIC_REPLICAS": "1", **env},
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def running_operator(api: Api, start_operator: Callable[..., OperatorProcess]) -> OperatorProcess:
    """The operator, with a connections Secret whose services refuse connections (external work fails fast)."""
    api.create_connections(unreachable_connections())
    return start_operator()
