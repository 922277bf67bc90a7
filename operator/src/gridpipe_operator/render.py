"""Desired children of a GridPipeline, rendered by pure functions (no cluster, no I/O).

What is rendered here is exactly what server-side apply sends: the operator's intent for each child and nothing
more, so fields other controllers own (status, defaults the Flink operator fills in) are left to them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridpipe_schemas.pipeline import (
    API_GROUP,
    API_VERSION,
    KIND,
    GridPipeline,
    GridPipelineSpec,
    fields_not_for_the_job,
    moved_reads,
    parse_pipeline,
    restored_reads,
)

FIELD_MANAGER = "gridpipe-operator"
PIPELINE_LABEL = f"{API_GROUP}/pipeline"
MANAGED_BY = {"app.kubernetes.io/managed-by": FIELD_MANAGER}

TOPIC_API = ("kafka.strimzi.io", "v1", "kafkatopics", "KafkaTopic")
FLINK_API = ("flink.apache.org", "v1beta1", "flinkdeployments", "FlinkDeployment")

PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"
FLINK_MAIN_CONTAINER = "flink-main-container"  # the Flink operator's fixed name for the JM/TM container
PROMETHEUS_PORT = 9249


@dataclass(frozen=True)
class Platform:
    """Where a pipeline's children point. Endpoints come from the connections Secret, the rest from the operator's
    settings (``Settings.platform`` builds it; the defaults live there); credentials are never rendered, only
    referenced by Secret key."""

    bootstrap_servers: str
    schema_registry_url: str
    s3_endpoint: str
    connections_secret: str
    kafka_cluster: str
    topic_replicas: int
    state_bucket: str
    flink_image: str
    flink_release: str
    flink_service_account: str

    @property
    def flink_version(self) -> str:
        """The FlinkDeployment's flinkVersion enum for the release, e.g. 2.2.1 -> v2_2."""
        major, minor, *_ = self.flink_release.split(".")
        return f"v{major}_{minor}"


@dataclass(frozen=True)
class Owner:
    """The GridPipeline object the children belong to."""

    name: str
    namespace: str
    uid: str

    @property
    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class Child:
    """One desired child object, with the API coordinates needed to apply it."""

    group: str
    version: str
    plural: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


@dataclass(frozen=True)
class TopicRole:
    role: str
    topic: str
    partitions: int
    retention_ms: int | None


def topic_roles(pipeline: GridPipeline) -> tuple[TopicRole, ...]:
    spec = pipeline.spec
    retention = spec.outputs.retention.ms
    return (
        TopicRole("source", spec.source.topic, spec.source.partitions, None),
        TopicRole("anomalies", spec.outputs.anomalies_topic, spec.outputs.partitions, retention),
        TopicRole("dead-letter", spec.outputs.dead_letter_topic, spec.outputs.partitions, retention),
    )


def topic_child_name(owner_name: str, role: str) -> str:
    return f"{owner_name}-{role}"


def _metadata(owner: Owner, name: str, component: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": {
            **MANAGED_BY,
            "app.kubernetes.io/part-of": "gridpipe",
            "app.kubernetes.io/component": component,
            PIPELINE_LABEL: owner.name,
        },
        "ownerReferences": [owner.reference],
    }


def render_topic(owner: Owner, role: TopicRole, platform: Platform) -> Child:
    group, version, plural, kind = TOPIC_API
    metadata = _metadata(owner, topic_child_name(owner.name, role.role), "topic")
    metadata["labels"]["strimzi.io/cluster"] = platform.kafka_cluster
    spec: dict[str, Any] = {"topicName": role.topic, "partitions": role.partitions, "replicas": platform.topic_replicas}
    if role.retention_ms is not None:
        spec["config"] = {"retention.ms": role.retention_ms}
    return Child(
        group, version, plural, {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": metadata, "spec": spec}
    )


def job_definition(pipeline: GridPipeline) -> dict[str, Any]:
    """The pipeline as the job sees it: its name and the spec's fields marked FOR_THE_JOB. Changing any other field
    (topic settings, storage housekeeping, pod sizing) leaves the FlinkDeployment as it is: no savepoint, no restart."""
    spec = pipeline.spec.model_dump(
        by_alias=True, exclude_none=True, mode="json", exclude=fields_not_for_the_job(GridPipelineSpec)
    )
    return {
        "apiVersion": pipeline.api_version,
        "kind": pipeline.kind,
        "metadata": {"name": pipeline.metadata.name},
        "spec": spec,
    }


def job_args(pipeline: GridPipeline, platform: Platform) -> list[str]:
    """PythonDriver arguments: the job entry contract `-pym gridpipe_jobs.job --pipeline-json ...`."""
    definition = json.dumps(job_definition(pipeline), separators=(",", ":"), sort_keys=True)
    return [
        "-pym",
        "gridpipe_jobs.job",
        "--pipeline-json",
        definition,
        "--bootstrap-servers",
        platform.bootstrap_servers,
        "--schema-registry-url",
        platform.schema_registry_url,
    ]


def _secret_env(name: str, secret: str, *, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": name}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def _pod_env(pipeline: GridPipeline, platform: Platform) -> list[dict[str, Any]]:
    secret = platform.connections_secret
    env = [
        _secret_env("AWS_ACCESS_KEY_ID", secret),
        _secret_env("AWS_SECRET_ACCESS_KEY", secret),
        _secret_env("AWS_REGION", secret, optional=True),
        {"name": "ENABLE_BUILT_IN_PLUGINS", "value": f"flink-s3-fs-hadoop-{platform.flink_release}.jar"},
    ]
    if pipeline.spec.sinks.influxdb.enabled:
        env += [_secret_env(f"GRIDPIPE_INFLUXDB_{key}", secret) for key in ("URL", "ORG", "TOKEN")]
    return env


def state_prefix(owner: Owner, platform: Platform) -> str:
    return f"s3://{platform.state_bucket}/{owner.namespace}/{owner.name}"


def _flink_configuration(pipeline: GridPipeline, owner: Owner, platform: Platform) -> dict[str, str]:
    state = state_prefix(owner, platform)
    return {
        "taskmanager.numberOfTaskSlots": "1",
        "execution.checkpointing.interval": f"{pipeline.spec.flink.checkpoint_interval.ms} ms",
        "execution.checkpointing.dir": f"{state}/checkpoints",
        "execution.checkpointing.savepoint-dir": f"{state}/savepoints",
        "high-availability.type": "kubernetes",
        "high-availability.storageDir": f"{state}/ha",
        "s3.endpoint": platform.s3_endpoint,
        "s3.path.style.access": "true",
        # No parent "directory" marker deletes after each archive file: they block the writer task at commit (and
        # with it the source and the alerts); docs/sinks.md.
        "s3.directory.marker.retention": "keep",
        "metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
        "metrics.reporter.prom.port": str(PROMETHEUS_PORT),
        # Label values as they are: `job_name` gridpipe-<pipeline> gives the pipeline label (docs/observability.md).
        "metrics.reporter.prom.filterLabelValueCharacters": "false",
    }


def flink_deployment_name(owner_name: str) -> str:
    return owner_name


def deployed_reads(flink_deployment: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The restored reads (``restored_reads``) of the job the Flink operator last deployed, from the spec it records
    in ``status.reconciliationStatus.lastReconciledSpec`` (``{"spec": ..., "resource_metadata": ...}``, or the bare
    spec in its older format); None when nothing was deployed yet or the record cannot be read."""
    status = (flink_deployment or {}).get("status") or {}
    text = (status.get("reconciliationStatus") or {}).get("lastReconciledSpec")
    try:
        recorded = json.loads(text) if text else None
        spec = recorded.get("spec", recorded) if isinstance(recorded, dict) else None
        args = spec["job"]["args"] if isinstance(spec, dict) else []
        return restored_reads(parse_pipeline(json.loads(args[args.index("--pipeline-json") + 1])))
    except (ValueError, KeyError, IndexError, TypeError):  # PipelineInvalid is a ValueError
        return None


def upgrade_mode(pipeline: GridPipeline, deployed: Mapping[str, str] | None) -> str:
    """``savepoint`` (a change restarts the job with its state), except ``stateless`` while the change the Flink
    operator is to deploy moves a restored read of the deployed job to another topic (``moved_reads``): the job then
    starts afresh on the new topic (from ``spec.source.startFrom``) and its windows fill again. ``upgradeMode`` itself
    is no change to the Flink operator (``@SpecDiff(IGNORE)``), so going back to ``savepoint`` restarts nothing."""
    return "stateless" if deployed is not None and moved_reads(deployed, pipeline) else "savepoint"


def render_flink_deployment(
    pipeline: GridPipeline, owner: Owner, platform: Platform, deployed: Mapping[str, str] | None = None
) -> Child:
    group, version, plural, kind = FLINK_API
    flink = pipeline.spec.flink
    metadata = _metadata(owner, flink_deployment_name(owner.name), "job")
    python_jar = f"local:///opt/flink/opt/flink-python-{platform.flink_release}.jar"
    spec: dict[str, Any] = {
        "image": platform.flink_image,
        "flinkVersion": platform.flink_version,
        "serviceAccount": platform.flink_service_account,
        "flinkConfiguration": _flink_configuration(pipeline, owner, platform),
        "podTemplate": {
            "metadata": {"annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(PROMETHEUS_PORT)}},
            "spec": {"containers": [{"name": FLINK_MAIN_CONTAINER, "env": _pod_env(pipeline, platform)}]},
        },
        "jobManager": {"resource": {"memory": flink.job_manager_memory, "cpu": 1.0}},
        "taskManager": {"resource": {"memory": flink.task_manager_memory, "cpu": flink.task_manager_cpu}},
        "job": {
            "jarURI": python_jar,
            "entryClass": PYTHON_DRIVER,
            "args": job_args(pipeline, platform),
            "parallelism": flink.parallelism,
            "upgradeMode": upgrade_mode(pipeline, deployed),
            # A spec change that removes operators (a z-score field, a sink) must still restore the savepoint.
            "allowNonRestoredState": True,
            "state": "running",
        },
    }
    return Child(
        group, version, plural, {"apiVersion": f"{group}/{version}", "kind": kind, "metadata": metadata, "spec": spec}
    )


def render_children(
    pipeline: GridPipeline, owner: Owner, platform: Platform, deployed: Mapping[str, str] | None = None
) -> list[Child]:
    """Every child the pipeline should have: its three KafkaTopics, then its FlinkDeployment. ``deployed`` are the
    restored reads of the job the Flink operator last deployed (``deployed_reads``): they decide how it upgrades."""
    topics = [render_topic(owner, role, platform) for role in topic_roles(pipeline)]
    return [*topics, render_flink_deployment(pipeline, owner, platform, deployed)]
