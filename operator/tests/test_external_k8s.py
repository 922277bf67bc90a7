"""External resources through their real APIs (Apicurio, InfluxDB, SeaweedFS's S3 in the local test stack), with
the operator killed mid-reconcile, and the data kept or deleted by the deletion policy."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pyarrow import fs

from gridpipe_schemas.registry import SchemaRegistry
from gridpipe_schemas.resources import InfluxBuckets, InfluxConnection, S3Connection, s3_filesystem
from gridpipe_stack import credentials
from gridpipe_stack.config import StackConfig
from operatortesting import OperatorProcess

from .conftest import Api, wait_for
from .test_operator_k8s import all_children, condition_is

pytestmark = pytest.mark.k8s


def stack_connections(cfg: StackConfig) -> dict[str, str]:
    influx, s3 = credentials.influxdb(cfg), credentials.s3(cfg)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": cfg.kafka_bootstrap,
        "SCHEMA_REGISTRY_URL": cfg.registry_url,
        "S3_ENDPOINT": s3.endpoint,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_REGION": s3.region,
        "GRIDPIPE_INFLUXDB_URL": influx.url,
        "GRIDPIPE_INFLUXDB_ORG": influx.org,
        "GRIDPIPE_INFLUXDB_TOKEN": influx.token,
    }


def stored_document(namespace: str, deletion_policy: str = "Retain") -> dict[str, Any]:
    """A pipeline whose topics, buckets and prefix are unique to the test's namespace."""
    tag = namespace
    return {
        "apiVersion": "gridpipe.io/v1alpha1",
        "kind": "GridPipeline",
        "metadata": {"name": "stored"},
        "spec": {
            "profile": "grid",
            "source": {"topic": f"{tag}-readings"},
            "outputs": {"anomaliesTopic": f"{tag}-anomalies", "deadLetterTopic": f"{tag}-dlq"},
            "detection": {"zscore": {"threshold": 3.0}},
            "sinks": {
                "influxdb": {"enabled": True, "bucket": f"{tag}-metrics", "retention": "48h"},
                "archive": {"enabled": True, "bucket": f"{tag}-archive", "prefix": "grid/stored"},
            },
            "deletionPolicy": deletion_policy,
        },
    }


def influx_of(cfg: StackConfig) -> InfluxBuckets:
    c = credentials.influxdb(cfg)
    return InfluxBuckets(InfluxConnection(c.url, c.org, c.token))


def s3_of(cfg: StackConfig) -> Any:
    c = credentials.s3(cfg)
    return s3_filesystem(S3Connection(c.endpoint, c.access_key, c.secret_key, c.region))


def externals_ready(api: Api) -> bool:
    return bool(
        condition_is(api, "stored", "SchemasRegistered", status="True")
        and condition_is(api, "stored", "StorageReady", status="True")
    )


@pytest.fixture
def stack_secret(api: Api, local_stack: StackConfig) -> StackConfig:
    api.create_connections(stack_connections(local_stack))
    return local_stack


def test_killed_mid_reconcile_converges_without_duplicates(
    api: Api, stack_secret: StackConfig, start_operator: Callable[..., OperatorProcess]
) -> None:
    cfg = stack_secret
    operator = start_operator()
    api.create_pipeline(stored_document(api.namespace))
    wait_for(lambda: api.topic("stored-source"), "the first child", timeout=5, interval=0.01)
    operator.kill()  # children applied, external work under way
    restarted = start_operator()
    wait_for(
        lambda: externals_ready(api),
        "schemas and storage ready after the restart",
        timeout=60,
        explain=lambda: f"{(api.pipeline('stored') or {}).get('status')}\n{restarted.tail()}",
    )
    assert all_children(api, "stored")

    tag = api.namespace
    with SchemaRegistry(cfg.registry_url) as registry:
        for topic in (f"{tag}-readings", f"{tag}-anomalies", f"{tag}-dlq"):
            assert registry.versions(f"{topic}-value") == [1], f"{topic}: registered once"
    with influx_of(cfg) as influx:
        bucket = influx.find(f"{tag}-metrics")
    assert bucket is not None
    assert [r["everySeconds"] for r in bucket["retentionRules"]] == [48 * 3600]
    s3 = s3_of(cfg)
    assert s3.get_file_info(f"{tag}-archive/grid/stored").type != fs.FileType.NotFound
    assert s3.get_file_info("gridpipe-state").type == fs.FileType.Directory


def test_retention_change_reaches_influxdb_without_touching_the_job(
    api: Api, stack_secret: StackConfig, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    api.create_pipeline(stored_document(api.namespace))
    wait_for(lambda: externals_ready(api), "externals ready", timeout=30)
    generation = api.flink("stored")["metadata"]["generation"]  # type: ignore[index]
    api.patch_pipeline("stored", {"spec": {"sinks": {"influxdb": {"retention": "96h"}}}})

    def retention() -> int | None:
        with influx_of(stack_secret) as influx:
            bucket = influx.find(f"{api.namespace}-metrics") or {}
        rules = bucket.get("retentionRules") or [{}]
        return int(rules[0].get("everySeconds") or 0) or None

    wait_for(lambda: retention() == 96 * 3600, "retention 96h in InfluxDB", timeout=20)
    assert api.flink("stored")["metadata"]["generation"] == generation  # type: ignore[index]


def delete_pipeline(api: Api) -> None:
    api.custom.delete_namespaced_custom_object("gridpipe.io", "v1alpha1", api.namespace, "gridpipelines", "stored")


def test_retain_keeps_the_data_and_needs_no_finalizer(
    api: Api, stack_secret: StackConfig, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    api.create_pipeline(stored_document(api.namespace))
    wait_for(lambda: externals_ready(api), "externals ready", timeout=30)
    assert not api.pipeline("stored")["metadata"].get("finalizers")  # type: ignore[index]
    delete_pipeline(api)
    wait_for(lambda: api.pipeline("stored") is None and api.flink("stored") is None, "pipeline and children gone")
    time.sleep(1)
    with influx_of(stack_secret) as influx:
        assert influx.find(f"{api.namespace}-metrics") is not None
    assert s3_of(stack_secret).get_file_info(f"{api.namespace}-archive/grid/stored").type != fs.FileType.NotFound


def test_delete_policy_removes_the_data_then_the_pipeline(
    api: Api, stack_secret: StackConfig, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    api.create_pipeline(stored_document(api.namespace, deletion_policy="Delete"))
    wait_for(lambda: externals_ready(api), "externals ready", timeout=30)
    finalizers = wait_for(lambda: (api.pipeline("stored") or {})["metadata"].get("finalizers"), "the finalizer")
    assert finalizers == ["gridpipe.io/delete-data"]
    s3 = s3_of(stack_secret)
    prefix = f"{api.namespace}-archive/grid/stored"
    own, neighbour = f"{prefix}/stored/readings/year=2026", f"{prefix}/other-pipeline/readings/year=2026"
    for folder in (own, neighbour):
        with s3.open_output_stream(f"{folder}/month=01/day=01/part-0") as out:
            out.write(b"not really parquet")

    delete_pipeline(api)
    wait_for(lambda: api.pipeline("stored") is None, "the pipeline to go once its data is deleted", timeout=30)
    assert s3.get_file_info(f"{prefix}/stored").type == fs.FileType.NotFound
    assert s3.get_file_info(f"{neighbour}/month=01/day=01/part-0").type == fs.FileType.File
    with influx_of(stack_secret) as influx:
        assert influx.find(f"{api.namespace}-metrics") is None
    assert all_children(api, "stored") is None and api.flink("stored") is None


def test_finalizer_follows_the_policy(
    api: Api, stack_secret: StackConfig, start_operator: Callable[..., OperatorProcess]
) -> None:
    start_operator()
    api.create_pipeline(stored_document(api.namespace, deletion_policy="Delete"))
    wait_for(lambda: (api.pipeline("stored") or {})["metadata"].get("finalizers"), "the finalizer")
    api.patch_pipeline("stored", {"spec": {"deletionPolicy": "Retain"}})
    wait_for(lambda: not (api.pipeline("stored") or {})["metadata"].get("finalizers"), "no finalizer under Retain")


def archive_sample(metrics: str, name: str, namespace: str, dataset: str) -> float | None:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and sample.labels == {
                "namespace": namespace,
                "pipeline": "stored",
                "dataset": dataset,
            }:
                return float(sample.value)
    return None


def test_archive_usage_is_observed_in_s3_and_exported(
    api: Api, stack_secret: StackConfig, start_operator: Callable[..., OperatorProcess]
) -> None:
    operator = start_operator(GRIDPIPE_OPERATOR_ARCHIVE_OBSERVE_SECONDS="1")
    api.create_pipeline(stored_document(api.namespace))
    wait_for(lambda: externals_ready(api), "externals ready", timeout=30)
    s3 = s3_of(stack_secret)
    day = f"{api.namespace}-archive/grid/stored/stored/readings/year=2026/month=12/day=01"
    for part, size in (("part-a-0-0", 300), ("part-a-0-1", 200), ("_SUCCESS", 0)):
        with s3.open_output_stream(f"{day}/{part}") as out:
            out.write(b"p" * size)

    def exported() -> tuple[float | None, float | None]:
        text = operator.metrics()
        return (
            archive_sample(text, "gridpipe_archive_files", api.namespace, "readings"),
            archive_sample(text, "gridpipe_archive_bytes", api.namespace, "readings"),
        )

    wait_for(lambda: exported() == (2.0, 500.0), "2 files of 500 bytes in gridpipe_archive_*", timeout=30, interval=0.5)
    delete_pipeline(api)
    wait_for(
        lambda: exported() == (None, None),
        "the deleted pipeline's archive no longer exported",
        timeout=30,
        interval=0.5,
    )
