"""What the console serves: the pipelines it is given and where their services are.

Locally the pipelines come from GridPipeline YAML files (the same files `gridctl run` and `kubectl apply` take);
the PRD's rocket deployment gives one anomalies topic in KAFKA_ANOMALIES_TOPIC instead.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridpipe_schemas.endpoints import InfluxSettings
from gridpipe_schemas.errors import GridpipeError
from gridpipe_schemas.pipeline import PRD_RULES, GridPipeline, RocketRule

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
TOPIC_ENV = "KAFKA_ANOMALIES_TOPIC"
RETENTION_ENV = "ANOMALY_ALERT_RETENTION_HOURS"
TOKEN_FILE_ENV = "GRIDPIPE_CONSOLE_TOKEN_FILE"  # noqa: S105 (a variable name, not a secret)
DEFAULT_PORT = 8088


@dataclass(frozen=True)
class PipelineView:
    """What the console needs of one pipeline."""

    name: str
    profile: str
    topic: str  # its anomalies topic
    source_topic: str | None = None
    rules: tuple[RocketRule, ...] = ()
    zscore: dict[str, Any] | None = None
    influx_bucket: str | None = None  # None: its alerts are not kept in InfluxDB, so it has no history
    job: str | None = None  # its Flink job's name

    @classmethod
    def of(cls, pipeline: GridPipeline) -> PipelineView:
        spec = pipeline.spec
        zscore = spec.detection.zscore
        return cls(
            name=pipeline.metadata.name,
            profile=spec.profile,
            topic=spec.outputs.anomalies_topic,
            source_topic=spec.source.topic,
            rules=spec.rocket_rules if spec.profile == "rocket" else (),
            zscore=(
                {"threshold": zscore.threshold, "window": zscore.window.text, "fields": list(zscore.fields)}
                if zscore
                else None
            ),
            influx_bucket=spec.sinks.influxdb.bucket if spec.sinks.influxdb.enabled else None,
            job=f"gridpipe-{pipeline.metadata.name}",
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "profile": self.profile,
            "topic": self.topic,
            "rules": [
                {
                    "parameter": r.parameter,
                    "min": r.min,
                    "max": r.max,
                    "expectedRange": r.expected_range,
                    "anomalyType": r.anomaly_type,
                }
                for r in self.rules
            ],
            "zscore": self.zscore,
            "history": self.influx_bucket is not None,
        }


class Pipelines:
    """The pipelines the console shows, and what is known of their jobs. Fixed when they come from files; on
    Kubernetes the GridPipeline watch changes them while the console runs, and ``version`` tells the Kafka consumers
    to follow."""

    def __init__(self, views: tuple[PipelineView, ...] = ()) -> None:
        self._views = {v.name: v for v in views}
        self._job_states: dict[str, str] = {}
        self._lock = threading.Lock()
        self.version = 0

    def all(self) -> tuple[PipelineView, ...]:
        with self._lock:
            return tuple(self._views.values())

    def get(self, name: str) -> PipelineView | None:
        with self._lock:
            return self._views.get(name)

    def job_state(self, name: str) -> str | None:
        """The job state the GridPipeline's status reports (Kubernetes), None when that is not the source."""
        with self._lock:
            return self._job_states.get(name)

    def put(self, view: PipelineView, job_state: str | None = None) -> None:
        with self._lock:
            if self._views.get(view.name) != view:
                self._views[view.name] = view
                self.version += 1
            if job_state is not None:
                self._job_states[view.name] = job_state

    def remove(self, name: str) -> None:
        with self._lock:
            if self._views.pop(name, None) is not None:
                self.version += 1
            self._job_states.pop(name, None)


@dataclass(frozen=True)
class ConsoleSettings:
    pipelines: Pipelines
    kafka_bootstrap: str
    registry_url: str
    flink_url: str | None = None
    influxdb: InfluxSettings | None = None
    prometheus_url: str | None = None  # the Pipeline-health page's queries
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = field(default=None, repr=False)
    allowed_origins: tuple[str, ...] = ()  # besides the console's own address
    max_live_rate: int = 50  # alerts per second per pipeline sent one by one; beyond it, summaries
    queue_size: int = 1000  # messages waiting for one browser
    retention_hours: float = 24.0
    group_id: str = "gridpipe-console"
    kubernetes: KubernetesSource | None = None  # follow GridPipeline resources instead of files


@dataclass(frozen=True)
class KubernetesSource:
    namespace: str | None  # None: every namespace
    kubeconfig: str | None = None  # None: the pod's ServiceAccount, else $KUBECONFIG


def pipelines_from(loaded: list[GridPipeline], environ: Mapping[str, str]) -> tuple[PipelineView, ...]:
    """The pipelines of the files given; KAFKA_ANOMALIES_TOPIC alone (no files) is one rocket pipeline on that topic,
    as the PRD's rocket deployment configures it; with files, it keeps only the pipeline writing that topic."""
    views = [PipelineView.of(p) for p in loaded]
    names = [v.name for v in views]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise GridpipeError(
            f"two pipelines are named {', '.join(sorted(duplicated))}", "give each -f file a distinct metadata.name"
        )
    topic = environ.get(TOPIC_ENV, "").strip()
    if not topic:
        if not views:
            raise GridpipeError(
                "no pipeline to show",
                f"pass GridPipeline files (-f examples/grid.yaml -f examples/rocket.yaml) or set {TOPIC_ENV}",
            )
        return tuple(views)
    if not views:
        return (PipelineView(name=topic, profile="rocket", topic=topic, rules=PRD_RULES),)
    chosen = [v for v in views if v.topic == topic]
    if not chosen:
        raise GridpipeError(
            f"{TOPIC_ENV}={topic} is the anomalies topic of none of the pipelines given "
            f"({', '.join(f'{v.name}: {v.topic}' for v in views)})",
            f"unset {TOPIC_ENV} to show every pipeline given, or set it to one of their anomalies topics",
        )
    return tuple(chosen)


def retention_hours(environ: Mapping[str, str]) -> float:
    text = environ.get(RETENTION_ENV, "").strip()
    if not text:
        return 24.0
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 366:
        raise GridpipeError(
            f"{RETENTION_ENV}={text} is not a number of hours", f"set {RETENTION_ENV} to hours, e.g. 24 (the default)"
        )
    return hours


def read_token(path: Path | None) -> str | None:
    """The bearer token from a file (a mounted Secret on Kubernetes); never from the command line, where `ps`
    shows it."""
    if path is None:
        return None
    try:
        token = path.read_text().strip()
    except OSError as failed:
        raise GridpipeError(f"cannot read the token file {path}: {failed.strerror}", "check the path") from failed
    if len(token) < 16:
        raise GridpipeError(
            f"the token in {path} is shorter than 16 characters",
            "write a long random token, e.g. `openssl rand -hex 32`",
        )
    return token
