"""Unit tests: what the operator renders for a pipeline, and the status it computes from what it observes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gridpipe_operator.connections import ConnectionsInvalid, connections_from
from gridpipe_operator.render import Owner, deployed_reads, job_definition, render_children
from gridpipe_operator.settings import Settings, SettingsInvalid
from gridpipe_operator.status import Observed, Outcome, job_condition, status_for, topics_condition
from gridpipe_schemas.pipeline import load_pipeline, parse_pipeline

pytestmark = pytest.mark.unit
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OWNER = Owner(name="grid-demo", namespace="team-a", uid="1234-uid")
PLATFORM = Settings().platform(
    bootstrap_servers="kafka:9092", schema_registry_url="http://apicurio/apis/ccompat/v7", s3_endpoint="http://s3:8333"
)


def grid(**changes: Any) -> dict[str, Any]:
    pipeline = load_pipeline(EXAMPLES / "grid.yaml")
    document = pipeline.model_dump(by_alias=True, exclude_none=True, mode="json")
    for path, value in changes.items():
        node = document["spec"]
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return document


def children(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.name: c.body for c in render_children(parse_pipeline(document), OWNER, PLATFORM)}


def flink_spec(document: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = children(document)["grid-demo"]["spec"]
    return spec


def test_every_child_is_owned_labelled_and_namespaced() -> None:
    rendered = children(grid())
    assert sorted(rendered) == ["grid-demo", "grid-demo-anomalies", "grid-demo-dead-letter", "grid-demo-source"]
    for body in rendered.values():
        (ref,) = body["metadata"]["ownerReferences"]
        assert ref == {
            "apiVersion": "gridpipe.io/v1alpha1",
            "kind": "GridPipeline",
            "name": "grid-demo",
            "uid": "1234-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
        assert body["metadata"]["namespace"] == "team-a"
        assert body["metadata"]["labels"]["gridpipe.io/pipeline"] == "grid-demo"
        assert body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "gridpipe-operator"


def test_topics_take_partitions_and_retention_from_the_spec() -> None:
    rendered = children(grid(outputs__retention="36h", outputs__partitions=4, source__partitions=6))
    source, anomalies, dead = (rendered[f"grid-demo-{r}"] for r in ("source", "anomalies", "dead-letter"))
    assert source["apiVersion"] == "kafka.strimzi.io/v1" and source["kind"] == "KafkaTopic"
    assert source["metadata"]["labels"]["strimzi.io/cluster"] == "gridpipe"
    assert source["spec"] == {"topicName": "sensor-readings", "partitions": 6, "replicas": 3}
    assert anomalies["spec"] == {
        "topicName": "anomalies",
        "partitions": 4,
        "replicas": 3,
        "config": {"retention.ms": 36 * 3_600_000},
    }
    assert dead["spec"]["topicName"] == "dead-letter-queue"
    assert dead["spec"]["config"] == {"retention.ms": 36 * 3_600_000}


def test_flink_deployment_runs_the_job_entry_through_the_python_driver() -> None:
    spec = flink_spec(grid())
    job = spec["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    assert job["jarURI"] == "local:///opt/flink/opt/flink-python-2.2.1.jar"
    assert job["upgradeMode"] == "savepoint" and job["state"] == "running" and job["parallelism"] == 1
    assert job["allowNonRestoredState"] is True
    args = job["args"]
    assert args[:3] == ["-pym", "gridpipe_jobs.job", "--pipeline-json"]
    assert args[4:] == ["--bootstrap-servers", "kafka:9092", "--schema-registry-url", "http://apicurio/apis/ccompat/v7"]
    definition = parse_pipeline(json.loads(args[3]))  # the job can read what it is given
    assert definition.spec.detection.zscore is not None and definition.spec.detection.zscore.threshold == 2.5
    assert spec["flinkVersion"] == "v2_2"
    config = spec["flinkConfiguration"]
    assert config["execution.checkpointing.dir"] == "s3://gridpipe-state/team-a/grid-demo/checkpoints"
    assert config["execution.checkpointing.interval"] == "10000 ms"
    assert config["s3.endpoint"] == "http://s3:8333"
    assert config["s3.directory.marker.retention"] == "keep"  # archive commits must not block on marker deletes
    assert config["metrics.reporter.prom.factory.class"].endswith("PrometheusReporterFactory")
    assert config["metrics.reporter.prom.filterLabelValueCharacters"] == "false"
    assert spec["taskManager"]["resource"] == {"memory": "2048m", "cpu": 1.0}


def test_credentials_are_referenced_from_the_secret_never_inlined() -> None:
    spec = flink_spec(grid(sinks__influxdb={"enabled": True, "bucket": "grid"}))
    (container,) = spec["podTemplate"]["spec"]["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert set(refs) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "GRIDPIPE_INFLUXDB_URL",
        "GRIDPIPE_INFLUXDB_ORG",
        "GRIDPIPE_INFLUXDB_TOKEN",
    }
    assert {r["name"] for r in refs.values()} == {"gridpipe-connections"}
    without_influx = flink_spec(grid(sinks__influxdb={"enabled": False}))["podTemplate"]["spec"]["containers"][0]["env"]
    assert not [e for e in without_influx if e["name"].startswith("GRIDPIPE_INFLUXDB")]


@pytest.mark.parametrize(
    ("change", "restarts"),
    [
        ({"detection__zscore__threshold": 3.5}, True),
        ({"detection__zscore__window": "10m"}, True),
        ({"flink__parallelism": 2}, True),
        ({"deletionPolicy": "Delete"}, False),
        ({"sinks__influxdb__retention": "48h"}, False),
        ({"outputs__retention": "48h"}, False),
        ({"source__partitions": 12}, False),
    ],
)
def test_only_job_relevant_changes_change_the_flink_deployment(change: dict[str, Any], restarts: bool) -> None:
    assert (flink_spec(grid(**change)) != flink_spec(grid())) is restarts


def test_job_definition_is_valid_on_its_own_and_carries_no_housekeeping() -> None:
    definition = job_definition(parse_pipeline(grid(deletionPolicy="Delete")))
    assert definition["metadata"] == {"name": "grid-demo"}
    assert "deletionPolicy" not in definition["spec"]
    assert "retention" not in definition["spec"]["outputs"]
    parse_pipeline(definition)


def deployed(document: dict[str, Any], *, wrapped: bool = True) -> dict[str, Any]:
    """A FlinkDeployment of ``document`` as the Flink operator leaves it once deployed: its spec recorded in
    ``status.reconciliationStatus.lastReconciledSpec`` (``{"spec", "resource_metadata"}``, or the older bare spec)."""
    body = children(document)["grid-demo"]
    recorded = {"spec": body["spec"], "resource_metadata": {"firstDeployment": False}} if wrapped else body["spec"]
    return {**body, "status": {"reconciliationStatus": {"lastReconciledSpec": json.dumps(recorded)}}}


def upgrade_mode(document: dict[str, Any], running: dict[str, Any] | None) -> str:
    rendered = render_children(parse_pipeline(document), OWNER, PLATFORM, deployed_reads(running))
    mode: str = rendered[-1].body["spec"]["job"]["upgradeMode"]
    return mode


@pytest.mark.parametrize(
    ("change", "mode"),
    [
        ({"detection__zscore__threshold": 3.5}, "savepoint"),
        ({"sinks__archive__enabled": False}, "savepoint"),  # the archive's reads go, nothing of theirs restores
        ({"source__topic": "meter-readings-v2"}, "stateless"),
        ({"outputs__anomaliesTopic": "alerts-v2"}, "stateless"),  # the archive reads its alerts back from it
        ({"outputs__anomaliesTopic": "alerts-v2", "sinks__archive__enabled": False}, "savepoint"),
        ({"outputs__deadLetterTopic": "rejects-v2"}, "savepoint"),  # written, never read
    ],
)
def test_a_change_that_moves_a_restored_read_to_another_topic_upgrades_without_state(
    change: dict[str, Any], mode: str
) -> None:
    assert upgrade_mode(grid(**change), deployed(grid())) == mode


def test_the_upgrade_mode_goes_back_to_savepoint_once_the_move_is_deployed() -> None:
    moved = grid(source__topic="meter-readings-v2")
    assert upgrade_mode(moved, deployed(grid(), wrapped=False)) == "stateless"
    assert upgrade_mode(moved, deployed(moved)) == "savepoint"
    assert upgrade_mode(moved, None) == "savepoint"  # nothing deployed yet: nothing to restore
    unreadable = {"status": {"reconciliationStatus": {"lastReconciledSpec": "{not json"}}}
    assert deployed_reads(unreadable) is None


def test_rocket_pipeline_renders_too() -> None:
    rocket = load_pipeline(EXAMPLES / "rocket.yaml")
    rendered = {c.name: c for c in render_children(rocket, Owner("rocket-demo", "ns", "u"), PLATFORM)}
    definition = json.loads(rendered["rocket-demo"].body["spec"]["job"]["args"][3])
    assert len(definition["spec"]["detection"]["rules"]) == 8


def ready_topic(status: str = "True", message: str = "") -> dict[str, Any]:
    return {"status": {"conditions": [{"type": "Ready", "status": status, "reason": "x", "message": message}]}}


def flink(state: str | None, error: str | None = None, lifecycle: str = "STABLE") -> dict[str, Any]:
    status: dict[str, Any] = {"lifecycleState": lifecycle}
    if state:
        status["jobStatus"] = {"state": state, "jobId": "abc123"}
    if error:
        status["error"] = error
    return {"status": status}


OK = Outcome(True, "Ready", "fine")


def observed(**overrides: Any) -> Observed:
    values: dict[str, Any] = {
        "generation": 3,
        "topics": {"a": ready_topic(), "b": ready_topic()},
        "flink": flink("RUNNING"),
        "schemas": OK,
        "storage": OK,
    }
    return Observed(**{**values, **overrides})


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_all_ready_is_running() -> None:
    status = status_for(observed(), None, "2026-01-01T00:00:00Z")
    assert status["phase"] == "Running" and status["observedGeneration"] == 3
    assert status["jobState"] == "RUNNING" and status["jobId"] == "abc123"
    assert {c["status"] for c in status["conditions"]} == {"True"}
    assert {c["observedGeneration"] for c in status["conditions"]} == {3}


def test_failed_job_surfaces_its_error_message() -> None:
    error = json.dumps({"type": "org.apache.flink.runtime.JobException", "message": "Recovery is suppressed"})
    status = status_for(observed(flink=flink("FAILED", error)), None, "t")
    job = conditions(status)["JobRunning"]
    assert job == {**job, "status": "False", "reason": "JobFailed", "message": "Recovery is suppressed"}
    assert status["phase"] == "Failed"
    assert conditions(status)["Ready"]["status"] == "False"


def test_topic_not_ready_is_mirrored() -> None:
    topics = {"a": ready_topic(), "b": ready_topic("False", "Invalid partitions")}
    condition = topics_condition(topics)
    assert (condition.status, condition.reason) == ("False", "TopicNotReady")
    assert "b: x: Invalid partitions" in condition.message
    assert topics_condition({"a": {}}).status == "Unknown"
    assert topics_condition({"a": None}).reason == "TopicMissing"


def test_waiting_for_the_flink_operator_is_unknown_not_failed() -> None:
    assert job_condition(flink(None)).status == "Unknown"
    assert job_condition(None).reason == "FlinkDeploymentMissing"
    assert job_condition(flink("RUNNING", lifecycle="UPGRADING")).reason == "Upgrading"


def test_transition_time_moves_only_when_a_condition_flips() -> None:
    first = status_for(observed(flink=flink(None)), None, "t1")
    same = status_for(observed(flink=flink(None)), first, "t2")
    flipped = status_for(observed(), first, "t3")
    assert same == first
    assert conditions(flipped)["JobRunning"]["lastTransitionTime"] == "t3"
    assert conditions(flipped)["TopicsReady"]["lastTransitionTime"] == "t1"


def test_connections_secret_lacking_keys_names_them() -> None:
    with pytest.raises(ConnectionsInvalid, match="lacks S3_ENDPOINT, AWS_ACCESS_KEY_ID"):
        connections_from(
            {"KAFKA_BOOTSTRAP_SERVERS": "k", "SCHEMA_REGISTRY_URL": "r", "AWS_SECRET_ACCESS_KEY": "s"}, "ns/x"
        )
    full = {
        "KAFKA_BOOTSTRAP_SERVERS": "k",
        "SCHEMA_REGISTRY_URL": "r",
        "S3_ENDPOINT": "http://s3",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
    }
    connections = connections_from(full, "ns/x")
    assert connections.influxdb is None and "very-secret" not in repr(connections)


def test_settings_refuse_nonsense() -> None:
    assert Settings.from_env({"GRIDPIPE_OPERATOR_TOPIC_REPLICAS": "1"}).topic_replicas == 1
    with pytest.raises(SettingsInvalid, match="GRIDPIPE_OPERATOR_TOPIC_REPLICAS='three'"):
        Settings.from_env({"GRIDPIPE_OPERATOR_TOPIC_REPLICAS": "three"})


def test_a_replica_stands_by_as_kopf_pauses_it() -> None:
    from datetime import UTC, datetime

    from gridpipe_operator.peering import outranked

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    live = {"lastseen": "2026-01-01T11:59:30+00:00", "lifetime": 60}
    me = {"me": {**live, "priority": 5}}
    assert outranked({**me, "other": {**live, "priority": 9}}, 5, now), "a live peer of higher priority"
    assert outranked({**me, "other": {**live, "priority": 5}}, 5, now), "a tie: kopf pauses both"
    assert outranked(None, 5, now), "no peering record: kopf stays paused"
    assert not outranked({**me, "other": {**live, "priority": 3}}, 5, now)
    gone = {"lastseen": "2026-01-01T11:50:00+00:00", "lifetime": 60, "priority": 9}
    assert not outranked({**me, "gone": gone}, 5, now), "a peer past its lifetime"
    assert not outranked(me, 5, now)
    assert not outranked({}, 5, now)


def test_blocked_status_and_recorded_outcomes() -> None:
    from gridpipe_operator.status import blocked_status, recorded_outcome

    blocked = blocked_status(
        generation=2, phase="Pending", reason="ConnectionsMissing", message="no Secret", previous=None, now="t"
    )
    assert blocked["phase"] == "Pending"
    assert {(c["status"], c["reason"]) for c in blocked["conditions"]} == {("False", "ConnectionsMissing")}
    assert recorded_outcome(blocked, "SchemasRegistered", 2) is None, "a blocked status records no outcome"

    written = status_for(observed(schemas=Outcome(None, "Checking")), None, "t")
    checking = recorded_outcome(written, "SchemasRegistered", 3)
    assert checking is not None and checking.ok is None
    assert conditions(written)["SchemasRegistered"]["status"] == "Unknown"
    assert recorded_outcome(written, "StorageReady", 3) == OK
    assert recorded_outcome(written, "StorageReady", 4) is None, "another generation's outcome does not count"
