"""The operator as a real process against a real kube-apiserver serving the real CRDs (no kubelet: the Flink and
Strimzi operators' status updates are written here as they would write them)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from gridpipe_operator.render import Owner, render_children
from gridpipe_operator.settings import Settings
from gridpipe_schemas.pipeline import parse_pipeline
from gridpipe_stack.kube.cluster import KubeCluster
from operatortesting import OperatorProcess

from .conftest import UNREACHABLE, Api, wait_for

pytestmark = pytest.mark.k8s
CHILD_DEADLINE = 2.0


def grid_document(name: str = "grid-a", threshold: float = 2.5, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gridpipe.io/v1alpha1",
        "kind": "GridPipeline",
        "metadata": {"name": name},
        "spec": {
            "profile": "grid",
            "source": {"topic": f"{name}-readings", "partitions": 2},
            "outputs": {"anomaliesTopic": f"{name}-anomalies", "deadLetterTopic": f"{name}-dlq", "retention": "12h"},
            "detection": {"zscore": {"threshold": threshold, "window": "5m"}},
            **spec,
        },
    }


def children_of(api: Api, name: str) -> dict[str, dict[str, Any] | None]:
    return {
        **{f"{name}-{role}": api.topic(f"{name}-{role}") for role in ("source", "anomalies", "dead-letter")},
        name: api.flink(name),
    }


def _with_threshold(flink: dict[str, Any] | None, threshold: float) -> dict[str, Any] | None:
    return flink if flink is not None and job_threshold(flink) == threshold else None


def all_children(api: Api, name: str) -> dict[str, dict[str, Any]] | None:
    found = children_of(api, name)
    return {key: value for key, value in found.items() if value is not None} if all(found.values()) else None


def condition_is(api: Api, name: str, kind: str, **expected: str) -> dict[str, Any] | None:
    condition = api.condition(name, kind)
    return condition if condition and all(condition.get(k) == v for k, v in expected.items()) else None


def job_threshold(flink: dict[str, Any]) -> float:
    definition = json.loads(flink["spec"]["job"]["args"][3])
    return float(definition["spec"]["detection"]["zscore"]["threshold"])


def test_children_appear_within_two_seconds_with_the_rendered_spec(api: Api, running_operator: OperatorProcess) -> None:
    start = time.monotonic()
    created = api.create_pipeline(grid_document())
    found = wait_for(lambda: all_children(api, "grid-a"), "all four children")
    elapsed = time.monotonic() - start
    assert elapsed < CHILD_DEADLINE, f"children took {elapsed:.2f}s"
    platform = Settings(topic_replicas=1).platform(
        bootstrap_servers="kafka:9092", schema_registry_url=f"{UNREACHABLE}/apis/ccompat/v7", s3_endpoint=UNREACHABLE
    )
    owner = Owner("grid-a", api.namespace, created["metadata"]["uid"])
    for child in render_children(parse_pipeline(grid_document()), owner, platform):
        live = found[child.name]
        assert live is not None
        assert live["spec"] == child.body["spec"], child.name
        assert live["metadata"]["ownerReferences"] == child.body["metadata"]["ownerReferences"]
    status: dict[str, Any] = wait_for(lambda: (api.pipeline("grid-a") or {}).get("status"), "a status")
    assert status["observedGeneration"] == 1
    assert {c["type"] for c in status["conditions"]} == {
        "Ready",
        "TopicsReady",
        "JobRunning",
        "SchemasRegistered",
        "StorageReady",
    }
    registry = wait_for(lambda: condition_is(api, "grid-a", "SchemasRegistered", status="False"), "registry refusal")
    assert "unreachable" in registry["message"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"detection": {"zscore": {"threshold": 5.0}}}, "should be less than or equal to 4"),
        ({"detection": {"zscore": {"window": "5 minutes"}}}, "should match"),
        ({"detection": {"zscore": {"window": "1m", "bucket": "5m"}}}, "bucket must not be longer than window"),
    ],
)
def test_bad_grid_specs_are_refused_with_the_rule_message(api: Api, change: dict[str, Any], message: str) -> None:
    document = grid_document()
    document["spec"].update(change)
    with pytest.raises(client.ApiException) as refused:
        api.create_pipeline(document)
    assert refused.value.status == 422
    assert message in json.loads(refused.value.body or "{}")["message"]


def test_rocket_rule_with_min_above_max_is_refused(api: Api) -> None:
    document = grid_document()
    document["spec"]["profile"] = "rocket"
    document["spec"]["detection"] = {
        "rules": [{"parameter": "thrust", "min": 5.0, "max": 1.0, "anomalyType": "engine_shutdown"}]
    }
    with pytest.raises(client.ApiException) as refused:
        api.create_pipeline(document)
    assert "min must not be greater than max" in json.loads(refused.value.body or "{}")["message"]


def test_threshold_change_updates_the_job_and_housekeeping_change_does_not(
    api: Api, running_operator: OperatorProcess
) -> None:
    api.create_pipeline(grid_document())
    first = wait_for(lambda: api.flink("grid-a"), "the FlinkDeployment")
    api.patch_pipeline("grid-a", {"spec": {"detection": {"zscore": {"threshold": 3.5}}}})
    updated = wait_for(lambda: _with_threshold(api.flink("grid-a"), 3.5), "threshold 3.5 in the job")
    assert updated["metadata"]["generation"] == first["metadata"]["generation"] + 1
    wait_for(
        lambda: ((api.pipeline("grid-a") or {}).get("status") or {}).get("observedGeneration") == 2, "status of gen 2"
    )
    conditions = {c["type"]: c for c in api.pipeline("grid-a")["status"]["conditions"]}  # type: ignore[index]
    assert {c["observedGeneration"] for c in conditions.values()} == {2}

    api.patch_pipeline("grid-a", {"spec": {"deletionPolicy": "Delete", "sinks": {"influxdb": {"retention": "48h"}}}})
    wait_for(
        lambda: ((api.pipeline("grid-a") or {}).get("status") or {}).get("observedGeneration") == 3, "status of gen 3"
    )
    assert api.flink("grid-a")["metadata"]["generation"] == updated["metadata"]["generation"]  # type: ignore[index]


def write_child_status(
    kube_cluster: KubeCluster, namespace: str, coordinates: tuple[str, str, str], name: str, status: dict[str, Any]
) -> None:
    """Write a child's status subresource, as the Flink or Strimzi operator would."""
    group, version, plural = coordinates
    with kube_cluster.api_client() as api_client:
        client.CustomObjectsApi(api_client).patch_namespaced_custom_object_status(
            group, version, namespace, plural, name, {"status": status}, _content_type="application/merge-patch+json"
        )


FLINK = ("flink.apache.org", "v1beta1", "flinkdeployments")
TOPICS = ("kafka.strimzi.io", "v1", "kafkatopics")


def test_child_status_is_mirrored_into_conditions(
    api: Api, running_operator: OperatorProcess, kube_cluster: KubeCluster
) -> None:
    api.create_pipeline(grid_document())
    wait_for(lambda: all(children_of(api, "grid-a").values()), "children")
    for role in ("source", "anomalies", "dead-letter"):
        ready = {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}], "topicName": role}
        write_child_status(kube_cluster, api.namespace, TOPICS, f"grid-a-{role}", ready)
    topics = wait_for(
        lambda: (c := api.condition("grid-a", "TopicsReady")) and c["status"] == "True" and c, "topics ready"
    )
    assert topics["reason"] == "TopicsReady"

    running = {"jobStatus": {"state": "RUNNING", "jobId": "0123abcd"}, "lifecycleState": "STABLE"}
    write_child_status(kube_cluster, api.namespace, FLINK, "grid-a", running)
    wait_for(lambda: condition_is(api, "grid-a", "JobRunning", status="True"), "JobRunning True")
    assert api.pipeline("grid-a")["status"]["jobId"] == "0123abcd"  # type: ignore[index]

    error = json.dumps(
        {
            "type": "org.apache.flink.runtime.JobException",
            "message": "Recovery is suppressed by NoRestartBackoffTimeStrategy",
        }
    )
    failed = {"jobStatus": {"state": "FAILED", "jobId": "0123abcd"}, "lifecycleState": "FAILED", "error": error}
    write_child_status(kube_cluster, api.namespace, FLINK, "grid-a", failed)
    job = wait_for(
        lambda: (c := api.condition("grid-a", "JobRunning")) and c["reason"] == "JobFailed" and c, "JobFailed"
    )
    assert job["status"] == "False" and job["message"] == "Recovery is suppressed by NoRestartBackoffTimeStrategy"
    status = api.pipeline("grid-a")["status"]  # type: ignore[index]
    assert status["phase"] == "Failed" and status["jobState"] == "FAILED"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"


def record_deployed(kube_cluster: KubeCluster, namespace: str, flink: dict[str, Any]) -> None:
    """Record ``flink``'s spec as deployed, as the Flink operator does once it has deployed it."""
    deployed = json.dumps({"spec": flink["spec"], "resource_metadata": {"firstDeployment": False}})
    write_child_status(
        kube_cluster,
        namespace,
        FLINK,
        flink["metadata"]["name"],
        {"reconciliationStatus": {"lastReconciledSpec": deployed}},
    )


def upgrade_mode_is(api: Api, name: str, mode: str) -> dict[str, Any] | None:
    flink = api.flink(name)
    return flink if flink is not None and flink["spec"]["job"]["upgradeMode"] == mode else None


def test_a_moved_source_topic_upgrades_the_job_without_state_then_savepoints_again(
    api: Api, running_operator: OperatorProcess, kube_cluster: KubeCluster
) -> None:
    api.create_pipeline(grid_document())
    record_deployed(kube_cluster, api.namespace, wait_for(lambda: upgrade_mode_is(api, "grid-a", "savepoint"), "job"))

    api.patch_pipeline("grid-a", {"spec": {"source": {"topic": "grid-a-readings-v2"}}})
    moved = wait_for(lambda: upgrade_mode_is(api, "grid-a", "stateless"), "a stateless upgrade")
    assert json.loads(moved["spec"]["job"]["args"][3])["spec"]["source"]["topic"] == "grid-a-readings-v2"

    record_deployed(kube_cluster, api.namespace, moved)
    wait_for(lambda: upgrade_mode_is(api, "grid-a", "savepoint"), "savepoint upgrades again once the move is deployed")
    api.patch_pipeline("grid-a", {"spec": {"detection": {"zscore": {"threshold": 3.5}}}})
    kept = wait_for(lambda: _with_threshold(api.flink("grid-a"), 3.5), "threshold 3.5 in the job")
    assert kept["spec"]["job"]["upgradeMode"] == "savepoint"


def test_children_deleted_or_edited_by_hand_are_put_back(api: Api, running_operator: OperatorProcess) -> None:
    api.create_pipeline(grid_document())
    original = wait_for(lambda: api.flink("grid-a"), "the FlinkDeployment")
    wait_for(lambda: all(children_of(api, "grid-a").values()), "children")

    api.custom.delete_namespaced_custom_object(*FLINK[:2], api.namespace, FLINK[2], "grid-a")
    start = time.monotonic()
    back = wait_for(
        lambda: (f := api.flink("grid-a")) and f["metadata"]["uid"] != original["metadata"]["uid"] and f, "it back"
    )
    assert time.monotonic() - start < CHILD_DEADLINE
    assert back["spec"] == original["spec"]

    api.custom.patch_namespaced_custom_object(
        *TOPICS[:2],
        api.namespace,
        TOPICS[2],
        "grid-a-anomalies",
        {"spec": {"partitions": 40}},
        _content_type="application/merge-patch+json",
    )
    wait_for(
        lambda: (api.topic("grid-a-anomalies") or {}).get("spec", {}).get("partitions") == 1, "partitions restored"
    )


def test_deleting_a_pipeline_removes_its_children(api: Api, running_operator: OperatorProcess) -> None:
    api.create_pipeline(grid_document())
    wait_for(lambda: all(children_of(api, "grid-a").values()), "children")
    assert not (api.pipeline("grid-a") or {})["metadata"].get("finalizers"), "Retain needs no finalizer"
    api.custom.delete_namespaced_custom_object("gridpipe.io", "v1alpha1", api.namespace, "gridpipelines", "grid-a")
    wait_for(lambda: not any(children_of(api, "grid-a").values()), "children gone")
