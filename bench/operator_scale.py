"""Operator at scale: 200 GridPipelines applied at once against a real kube-apiserver.

Starts a kube-apiserver + etcd (+ controller manager) of its own, the operator as a real process watching the whole
cluster, then creates N pipelines concurrently and reports: time until every child (3 KafkaTopics + 1
FlinkDeployment each) exists, time until every pipeline's status is written (observedGeneration 1), the operator's
resident memory (now and peak), and its reconcile counts.

External services: when the dev stack (GRIDPIPE_STACK / GRIDPIPE_PORT_BASE) is up, the connections Secret points at
its real Apicurio, InfluxDB and S3, so every pipeline's schemas and buckets are really created; otherwise at closed
ports, and external conditions are written as failed (recorded as ``externals: unreachable``).

Run: `uv run python bench/operator_scale.py [--pipelines 200] [--port-base 18500]`.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from common import record
from kubernetes import client

from gridpipe_stack import credentials, stack
from gridpipe_stack.config import StackConfig
from gridpipe_stack.kube.cluster import KubeCluster, cluster_of
from gridpipe_stack.kube.provision import provision_kube
from gridpipe_stack.kube.services import kube_services
from gridpipe_stack.testing import stack_config
from operatortesting import OperatorProcess

NAMESPACE = "bench"
GROUP, VERSION = "gridpipe.io", "v1alpha1"
TIMEOUT = 600.0


def pipeline(index: int) -> dict[str, Any]:
    name = f"p-{index:03d}"
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GridPipeline",
        "metadata": {"name": name},
        "spec": {
            "profile": "grid",
            "source": {"topic": f"bench-{name}-readings", "partitions": 3},
            "outputs": {"anomaliesTopic": f"bench-{name}-anomalies", "deadLetterTopic": f"bench-{name}-dlq"},
            "detection": {"zscore": {"threshold": 3.0}, "equipmentFailure": {"enabled": True}},
            "sinks": {"influxdb": {"enabled": True, "bucket": f"bench-{name}", "retention": "24h"}},
        },
    }


def connections(dev: StackConfig) -> tuple[dict[str, str], str]:
    try:
        up = httpx.get(f"{dev.registry_url}/subjects", timeout=2).status_code == 200
    except httpx.HTTPError:
        up = False
    if not up:
        closed = "http://127.0.0.1:9"
        values = {"SCHEMA_REGISTRY_URL": f"{closed}/apis/ccompat/v7", "S3_ENDPOINT": closed}
        values |= {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
        return values | {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"}, "unreachable"
    influx, s3 = credentials.influxdb(dev), credentials.s3(dev)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": dev.kafka_bootstrap,
        "SCHEMA_REGISTRY_URL": dev.registry_url,
        "S3_ENDPOINT": s3.endpoint,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "GRIDPIPE_INFLUXDB_URL": influx.url,
        "GRIDPIPE_INFLUXDB_ORG": influx.org,
        "GRIDPIPE_INFLUXDB_TOKEN": influx.token,
    }, f"dev stack '{dev.name}'"


def prepare_namespace(cluster: KubeCluster, values: dict[str, str]) -> None:
    with cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
        secret = client.V1Secret(metadata=client.V1ObjectMeta(name="gridpipe-connections"), data=data)
        core.create_namespaced_secret(NAMESPACE, secret)


def counted(custom: client.CustomObjectsApi, group: str, version: str, plural: str) -> list[dict[str, Any]]:
    listed: Any = custom.list_namespaced_custom_object(group, version, NAMESPACE, plural)
    return list(listed["items"])


def wait_until(done: Callable[[], bool], what: str) -> float:
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > TIMEOUT:
            raise TimeoutError(f"{what} not reached within {TIMEOUT:.0f}s")
        time.sleep(0.05)
    return time.monotonic()


def externals_ready(body: dict[str, Any]) -> bool:
    conditions = {c["type"]: c["status"] for c in (body.get("status") or {}).get("conditions", [])}
    return conditions.get("SchemasRegistered") == "True" and conditions.get("StorageReady") == "True"


def memory_kib(pid: int) -> dict[str, int]:
    fields = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M))
    return {key: int(value) for key, value in fields.items()}


def reconcile_counts(metrics: str) -> dict[str, float]:
    found = re.findall(r'^gridpipe_operator_reconciles_total\{trigger="(\w+)"\} ([0-9.e+]+)$', metrics, re.M)
    return {trigger: float(value) for trigger, value in found}


def error_counts(metrics: str) -> dict[str, float]:
    pattern = r'^gridpipe_operator_reconcile_errors_total\{trigger="(\w+)",kind="(\w+)"\} ([0-9.e+]+)$'
    return {f"{trigger}:{kind}": float(v) for trigger, kind, v in re.findall(pattern, metrics, re.M)}


def mean_durations_ms(metrics: str) -> dict[str, float]:
    """Mean reconcile duration per trigger, from the histogram's _sum and _count."""
    pattern = r'^gridpipe_operator_reconcile_duration_seconds_(sum|count)\{trigger="(\w+)"\} ([0-9.e+]+)$'
    parts: dict[str, dict[str, float]] = {}
    for kind, trigger, value in re.findall(pattern, metrics, re.M):
        parts.setdefault(trigger, {})[kind] = float(value)
    return {t: round(1000 * p["sum"] / p["count"], 1) for t, p in parts.items() if p.get("count")}


def run(count: int, cluster: KubeCluster, workdir: Path) -> dict[str, Any]:
    dev = StackConfig.from_env()
    values, externals = connections(dev)
    prepare_namespace(cluster, values)
    operator = OperatorProcess(kubeconfig=cluster.kubeconfig, log=workdir / "operator.log").start()
    assert operator.process is not None
    idle = memory_kib(operator.process.pid)
    try:
        with cluster.api_client() as api_client:
            custom = client.CustomObjectsApi(api_client)
            print(f"creating {count} GridPipelines at once (externals: {externals})…")
            start = time.monotonic()
            with ThreadPoolExecutor(16) as pool:
                list(
                    pool.map(
                        lambda i: custom.create_namespaced_custom_object(
                            GROUP, VERSION, NAMESPACE, "gridpipelines", pipeline(i)
                        ),
                        range(count),
                    )
                )
            created = time.monotonic()
            children = wait_until(
                lambda: (
                    len(counted(custom, "kafka.strimzi.io", "v1", "kafkatopics")) == 3 * count
                    and len(counted(custom, "flink.apache.org", "v1beta1", "flinkdeployments")) == count
                ),
                "every child",
            )
            print(f"every child exists after {children - start:.2f}s")
            statuses = wait_until(
                lambda: (
                    sum(
                        1
                        for p in counted(custom, GROUP, VERSION, "gridpipelines")
                        if (p.get("status") or {}).get("observedGeneration") == 1
                    )
                    == count
                ),
                "every status",
            )
            print(f"every status written after {statuses - start:.2f}s")
            externals_done = None
            if externals != "unreachable":
                externals_done = wait_until(
                    lambda: (
                        sum(1 for p in counted(custom, GROUP, VERSION, "gridpipelines") if externals_ready(p)) == count
                    ),
                    "every pipeline's schemas and storage",
                )
                print(f"every pipeline's schemas and buckets ready after {externals_done - start:.2f}s")
        busy = memory_kib(operator.process.pid)
        metrics = operator.metrics()
        counts, durations, errors = reconcile_counts(metrics), mean_durations_ms(metrics), error_counts(metrics)
    finally:
        operator.stop()
    return {
        "pipelines": count,
        "externals": externals,
        "create_seconds": round(created - start, 2),
        "all_children_seconds": round(children - start, 2),
        "all_status_seconds": round(statuses - start, 2),
        "all_externals_ready_seconds": round(externals_done - start, 2) if externals_done else None,
        "operator_rss_idle_mib": round(idle["VmRSS"] / 1024, 1),
        "operator_rss_after_mib": round(busy["VmRSS"] / 1024, 1),
        "operator_rss_peak_mib": round(busy["VmHWM"] / 1024, 1),
        "reconciles": counts,
        "mean_reconcile_ms": durations,
        "reconcile_errors": errors,
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=200)
    parser.add_argument("--port-base", type=int, default=18500, help="ports of the benchmark's own apiserver")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="operator-bench-") as tmp:
        cfg = stack_config("bench-k8s", Path(tmp), args.port_base)
        try:
            stack.start(cfg, stack.scaled(kube_services(cfg, provision_kube(cfg.cache_dir))))
            figures = run(args.pipelines, cluster_of(cfg), Path(tmp))
        finally:
            stack.down(cfg)
    record("operator-scale", figures)


if __name__ == "__main__":
    main()
