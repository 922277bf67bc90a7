"""The GridPipeline resource: one definition for the job's validation and the Kubernetes CRD.

Field types, bounds, patterns and defaults are declared once here as pydantic models. Rules that relate fields are
declared once as CEL expressions (``CEL_RULES``): the CRD carries them as ``x-kubernetes-validations`` for the API
server, and ``validate_pipeline`` evaluates the very same expressions with cel-python. The CRD schema is generated
from these models (``gridpipe_schemas.crd``), so the job and the cluster cannot disagree about what is valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import core_schema

API_GROUP = "gridpipe.io"
API_VERSION = "v1alpha1"
KIND = "GridPipeline"
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
TOPIC_PATTERN = r"^[a-zA-Z0-9._-]{1,249}$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

Topic = Annotated[str, StringConstraints(pattern=TOPIC_PATTERN)]
GridField = Literal["voltage", "current", "temperature"]
RocketParameter = Literal[
    "engineEfficiency",
    "burnRate",
    "sensorNoise",
    "guidanceError",
    "fuelLeakRate",
    "engineTemp",
    "thrust",
    "activeAnomalies",
]
RocketAnomalyType = Literal[
    "engine_underperformance",
    "fuel_leak",
    "sensor_malfunction",
    "guidance_failure",
    "thermal_anomaly",
    "engine_shutdown",
    "multiple_anomalies",
]


def duration_ms(text: str) -> int:
    """Milliseconds of a duration such as ``5m``, ``1h30m`` or ``250ms``."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration: write e.g. 250ms, 10s, 5m, 1h30m")
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


class Duration(timedelta):
    """A duration of the spec, parsed once from its text (``5m``, ``1h30m``, ``250ms``) and written back as that text,
    so documents and the CRD keep the form people wrote (and CEL's ``duration()`` reads)."""

    text: str

    @classmethod
    def parse(cls, text: str) -> Duration:
        duration = cls(milliseconds=duration_ms(text))
        duration.text = text
        return duration

    @property
    def ms(self) -> int:
        return self // timedelta(milliseconds=1)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Duration({self.text!r})"

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # copies keep the text (timedelta's own reduce would drop it)
        return Duration.parse, (self.text,)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        from_text = core_schema.no_info_after_validator_function(
            cls.parse, core_schema.str_schema(pattern=DURATION_PATTERN)
        )
        return core_schema.no_info_before_validator_function(
            lambda value: value.text if isinstance(value, Duration) else value,
            from_text,
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )


@dataclass(frozen=True)
class CelRule:
    rule: str
    message: str


@dataclass(frozen=True)
class JobRelevance:
    """Whether a field of the spec reaches the Flink job. Every leaf field says so (a test holds it): a change to a
    field for the job changes the job's definition, and the operator upgrades the job (savepoint and restart); a field
    not for the job (topic settings, storage housekeeping, pod sizing) is applied without touching it."""

    for_the_job: bool


FOR_THE_JOB = JobRelevance(True)
NOT_FOR_THE_JOB = JobRelevance(False)


class Model(BaseModel):
    """camelCase on the wire, as Kubernetes resources are; unknown fields refused."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)
    CEL_RULES: ClassVar[tuple[CelRule, ...]] = ()


class Source(Model):
    topic: Annotated[Topic, FOR_THE_JOB] = Field(description="Kafka topic the pipeline reads.")
    start_from: Annotated[Literal["group-offsets", "earliest", "latest"], FOR_THE_JOB] = Field(
        "group-offsets", description="Where a new pipeline starts; a restarted one resumes from its checkpoint."
    )
    partitions: Annotated[int, NOT_FOR_THE_JOB] = Field(
        3, ge=1, le=1000, description="Partitions if the topic is created."
    )


class Outputs(Model):
    anomalies_topic: Annotated[Topic, FOR_THE_JOB] = Field(description="Topic the anomalies go to.")
    dead_letter_topic: Annotated[Topic, FOR_THE_JOB] = Field(
        description="Topic malformed records go to, with the reason."
    )
    partitions: Annotated[int, NOT_FOR_THE_JOB] = Field(
        1, ge=1, le=1000, description="Partitions of the anomalies topic."
    )
    retention: Annotated[Duration, NOT_FOR_THE_JOB] = Field(
        Duration.parse("24h"), description="Retention of the anomalies and dead-letter topics."
    )


class ZScore(Model):
    CEL_RULES = (
        CelRule("duration(self.bucket) <= duration(self.window)", "bucket must not be longer than window"),
        CelRule("duration(self.window) <= duration('24h')", "window must be at most 24h"),
    )
    fields: Annotated[list[GridField], FOR_THE_JOB] = Field(
        ["voltage"], min_length=1, max_length=3, description="Reading fields judged, each on its own."
    )
    window: Annotated[Duration, FOR_THE_JOB] = Field(
        Duration.parse("5m"), description="Event-time window before a reading that it is judged against."
    )
    threshold: Annotated[float, FOR_THE_JOB] = Field(
        2.5, ge=1.5, le=4.0, description="k: a reading is anomalous when |x - mean| > k * stddev."
    )
    min_samples: Annotated[int, FOR_THE_JOB] = Field(
        30, ge=2, le=100_000, description="Readings the window needs before it judges."
    )
    bucket: Annotated[Duration, FOR_THE_JOB] = Field(
        Duration.parse("10s"), description="Granularity of the window's event-time buckets."
    )


class EquipmentFailure(Model):
    enabled: Annotated[bool, FOR_THE_JOB] = True


# How an alert of each rocket anomaly type names it (the PRD's words).
ROCKET_ANOMALY_LABELS = {
    "engine_underperformance": "Engine Underperformance",
    "fuel_leak": "Fuel System Leak",
    "sensor_malfunction": "Sensor Malfunction",
    "guidance_failure": "Guidance System Failure",
    "thermal_anomaly": "Thermal Anomaly",
    "engine_shutdown": "Engine Shutdown",
    "multiple_anomalies": "Multiple Concurrent Issues",
}


def rocket_alert_description(parameter: str, anomaly_type: str) -> str:
    """An AnomalyAlert's ``description``: the job writes it, alert history (which stores the parts) rebuilds it."""
    return f"{parameter} anomaly: {ROCKET_ANOMALY_LABELS.get(anomaly_type, anomaly_type)}"


class RocketRule(Model):
    CEL_RULES = (CelRule("self.min <= self.max", "min must not be greater than max"),)
    parameter: Annotated[RocketParameter, FOR_THE_JOB]
    min: Annotated[float, FOR_THE_JOB]
    max: Annotated[float, FOR_THE_JOB]
    anomaly_type: Annotated[RocketAnomalyType, FOR_THE_JOB]

    def fires(self, value: float) -> bool:
        """Whether a telemetry value falls in the rule's anomaly range."""
        return self.min <= value <= self.max

    @property
    def expected_range(self) -> str:
        """The normal range of the parameter, as text: outside the rule's anomaly range (docs/detection.md)."""

        def plain(value: float) -> str:
            return f"{value:g}" if value < 1e9 else "infinity"

        if self.parameter == "thrust" and self.min == self.max == 0:
            return "not 0"
        if self.max >= 1e9:
            return f"below {plain(self.min)}"
        return f"outside {plain(self.min)}-{plain(self.max)}"


# The rocket PRD's rule table (section 2 of seed 000). "1+" for activeAnomalies is min 1 with no upper bound.
PRD_RULES: tuple[RocketRule, ...] = (
    RocketRule(parameter="engineEfficiency", min=40.0, max=80.0, anomaly_type="engine_underperformance"),
    RocketRule(parameter="burnRate", min=2550.0, max=2700.0, anomaly_type="fuel_leak"),
    RocketRule(parameter="sensorNoise", min=1.5, max=3.0, anomaly_type="sensor_malfunction"),
    RocketRule(parameter="guidanceError", min=2.0, max=8.0, anomaly_type="guidance_failure"),
    RocketRule(parameter="fuelLeakRate", min=50.0, max=200.0, anomaly_type="fuel_leak"),
    RocketRule(parameter="engineTemp", min=3400.0, max=4000.0, anomaly_type="thermal_anomaly"),
    RocketRule(parameter="thrust", min=0.0, max=0.0, anomaly_type="engine_shutdown"),
    RocketRule(parameter="activeAnomalies", min=1.0, max=1e9, anomaly_type="multiple_anomalies"),
)


class Detection(Model):
    CEL_RULES = (
        CelRule(
            "!has(self.rules) || self.rules.all(r, self.rules.exists_one(o, o.parameter == r.parameter))",
            "each rocket parameter may have one rule only",
        ),
    )
    zscore: ZScore | None = Field(None, description="Rolling z-score per sensor (grid).")
    equipment_failure: EquipmentFailure | None = Field(None, description="Equipment-failure status (grid).")
    rules: list[RocketRule] | None = Field(
        None, max_length=16, description="Rocket rule table; default: the PRD's table."
    )


class InfluxSink(Model):
    enabled: Annotated[bool, FOR_THE_JOB] = False
    bucket: Annotated[str, FOR_THE_JOB] = Field("gridpipe", min_length=1, max_length=64)
    retention: Annotated[Duration, NOT_FOR_THE_JOB] = Duration.parse("720h")


class ArchiveSink(Model):
    enabled: Annotated[bool, FOR_THE_JOB] = False
    bucket: Annotated[str, FOR_THE_JOB] = Field("gridpipe-archive", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    prefix: Annotated[str, FOR_THE_JOB] = Field("", max_length=256)
    rollover_size_mb: Annotated[int, FOR_THE_JOB] = Field(128, ge=1, le=4096)
    rollover_interval: Annotated[Duration, FOR_THE_JOB] = Duration.parse("15m")


class Sinks(Model):
    influxdb: InfluxSink = InfluxSink()
    archive: ArchiveSink = ArchiveSink()


class Flink(Model):
    parallelism: Annotated[int, FOR_THE_JOB] = Field(1, ge=1, le=1024)
    checkpoint_interval: Annotated[Duration, FOR_THE_JOB] = Field(
        Duration.parse("10s"), description="Checkpoint period (spec SR-004)."
    )
    max_restart_backoff: Annotated[Duration, FOR_THE_JOB] = Field(
        Duration.parse("1m"), description="Cap of the exponential restart delay."
    )
    task_manager_memory: Annotated[str, NOT_FOR_THE_JOB] = Field("2048m", pattern=r"^[0-9]+[mg]$")
    task_manager_cpu: Annotated[float, NOT_FOR_THE_JOB] = Field(1.0, gt=0, le=64)
    job_manager_memory: Annotated[str, NOT_FOR_THE_JOB] = Field("1024m", pattern=r"^[0-9]+[mg]$")


class GridPipelineSpec(Model):
    CEL_RULES = (
        CelRule(
            "self.profile != 'grid' || has(self.detection.zscore) || has(self.detection.equipmentFailure)",
            "a grid pipeline needs detection.zscore or detection.equipmentFailure",
        ),
        CelRule(
            "self.profile != 'rocket' || (!has(self.detection.zscore) && !has(self.detection.equipmentFailure))",
            "zscore and equipmentFailure detection apply to grid pipelines only",
        ),
        CelRule("self.profile != 'grid' || !has(self.detection.rules)", "rules apply to rocket pipelines only"),
        CelRule(
            "self.source.topic != self.outputs.anomaliesTopic && self.source.topic != self.outputs.deadLetterTopic"
            " && self.outputs.anomaliesTopic != self.outputs.deadLetterTopic",
            "source, anomalies and dead-letter topics must all differ",
        ),
    )
    profile: Annotated[Literal["grid", "rocket"], FOR_THE_JOB] = Field(
        description="grid: Avro smart-meter readings; rocket: JSON telemetry."
    )
    source: Source
    outputs: Outputs
    detection: Detection
    sinks: Sinks = Sinks()
    flink: Flink = Flink()
    deletion_policy: Annotated[Literal["Retain", "Delete"], NOT_FOR_THE_JOB] = Field(
        "Retain", description="Whether deleting the pipeline deletes its InfluxDB bucket and archive data."
    )

    @property
    def rocket_rules(self) -> tuple[RocketRule, ...]:
        return tuple(self.detection.rules) if self.detection.rules is not None else PRD_RULES


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    namespace: str | None = None


class GridPipeline(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    api_version: Literal["gridpipe.io/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["GridPipeline"]
    metadata: Metadata
    spec: GridPipelineSpec


def restored_reads(pipeline: GridPipeline) -> dict[str, str]:
    """The Kafka reads of the pipeline's job whose positions a savepoint holds, by the source that reads them: the
    source topic (the alert path's and the archive's reads), and the anomalies topic when the grid archive reads its
    alerts back from it."""
    spec = pipeline.spec
    reads = {"source": spec.source.topic}
    if spec.profile == "grid" and spec.sinks.archive.enabled:
        reads["archived alerts"] = spec.outputs.anomalies_topic
    return reads


def moved_reads(before: Mapping[str, str], after: GridPipeline) -> dict[str, tuple[str, str]]:
    """The reads of ``after`` that the running job, whose reads were ``before``, had on another topic:
    {read: (old topic, new topic)}.

    Flink's Kafka source restores the partitions in its state whatever topic its table names now (by design,
    FLINK-34089), so a job restored from a savepoint after such a change would go on reading the old topic beside the
    new one: such a change must start the job without its state. A read the running job did not have restores
    nothing, so it is no move."""
    return {
        read: (before[read], topic)
        for read, topic in restored_reads(after).items()
        if read in before and before[read] != topic
    }


def model_classes(annotation: Any) -> list[type[Model]]:
    """The Model classes an annotation holds, directly or inside Optional / list."""
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return [annotation]
    return [cls for arg in get_args(annotation) for cls in model_classes(arg)]


def job_relevance(field: FieldInfo) -> JobRelevance | None:
    """The FOR_THE_JOB / NOT_FOR_THE_JOB mark of a field, if it has one."""
    return next((mark for mark in field.metadata if isinstance(mark, JobRelevance)), None)


def fields_not_for_the_job(cls: type[Model]) -> dict[str, Any]:
    """pydantic's ``exclude`` argument that leaves out every field marked NOT_FOR_THE_JOB, at any depth.

    A field that holds models is judged by its own fields; any other field must be marked, or this raises: a new or
    renamed field cannot slip into (or out of) the job's definition unnoticed."""
    exclude: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        relevance = job_relevance(field)
        inner = model_classes(field.annotation)
        if relevance is NOT_FOR_THE_JOB:
            exclude[name] = True
        elif inner:
            nested = {key: value for model in inner for key, value in fields_not_for_the_job(model).items()}
            if nested:
                exclude[name] = {"__all__": nested} if _holds_list(field.annotation) else nested
        elif relevance is None:
            raise TypeError(f"{cls.__name__}.{name} must be marked FOR_THE_JOB or NOT_FOR_THE_JOB")
    return exclude


def _holds_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or any(_holds_list(arg) for arg in get_args(annotation))


def cel_violations(cls: type[Model], raw: Any, path: str) -> list[tuple[str, str]]:
    """Evaluate the CEL rules of ``cls`` and of every model inside it against a raw document, as the API server does.

    Each object's rules are judged on their own, wherever that object is valid, so a rule broken in one place is
    reported together with a bad field elsewhere.
    """
    import celpy

    if not isinstance(raw, dict):
        return []
    found: list[tuple[str, str]] = []
    for name, field in cls.model_fields.items():
        alias = field.alias or name
        value = raw.get(alias)
        for inner in model_classes(field.annotation):
            if isinstance(value, list):
                for i, item in enumerate(value):
                    found.extend(cel_violations(inner, item, f"{path}.{alias}[{i}]"))
            else:
                found.extend(cel_violations(inner, value, f"{path}.{alias}"))
    if not cls.CEL_RULES:
        return found
    try:
        model = cls.model_validate(raw)
    except ValidationError:
        return found  # its field errors are reported by pydantic
    env = celpy.Environment()
    context = {"self": celpy.json_to_cel(model.model_dump(by_alias=True, exclude_none=True, mode="json"))}  # type: ignore[attr-defined]
    found.extend(
        (path, rule.message)
        for rule in cls.CEL_RULES
        if not bool(env.program(env.compile(rule.rule)).evaluate(context))
    )
    return found


class PipelineInvalid(ValueError):
    """Every problem of a GridPipeline, each with its path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source} is not a valid GridPipeline:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def _format_errors(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in item["loc"]).replace(".[", "[")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field; check its spelling against `gridctl pipeline crd`"
        problems.append(
            f"{path}: {message}"
            + (
                f" (got {item['input']!r})"
                if item["type"] not in {"extra_forbidden", "missing", "value_error", "model_type"}
                else ""
            )
        )
    return problems


def parse_pipeline(document: dict[str, Any], source: str = "pipeline") -> GridPipeline:
    """Validate a GridPipeline document: field rules and CEL rules, every problem reported at once."""
    problems: list[str] = []
    pipeline: GridPipeline | None = None
    try:
        pipeline = GridPipeline.model_validate(document)
    except ValidationError as error:
        problems.extend(_format_errors(error))
    problems.extend(
        f"{path}: {message}" for path, message in cel_violations(GridPipelineSpec, document.get("spec"), "spec")
    )
    if problems or pipeline is None:
        raise PipelineInvalid(source, problems)
    return pipeline


def load_pipeline(path: Path) -> GridPipeline:
    """Read and validate a GridPipeline YAML file, listing every problem by path."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineInvalid(str(path), [f"cannot read it: {exc}"]) from exc
    if not isinstance(document, dict):
        raise PipelineInvalid(str(path), ["the file must hold one YAML mapping (apiVersion, kind, metadata, spec)"])
    return parse_pipeline(document, str(path))


THRESHOLDS_ENV = "ANOMALY_THRESHOLDS_CONFIG"


def with_env_thresholds(pipeline: GridPipeline, environ: Mapping[str, str]) -> GridPipeline:
    """Apply the rocket PRD's ANOMALY_THRESHOLDS_CONFIG: JSON ``{"engineTemp": {"min": 3500, "max": 4000}, …}``.

    ``environ`` is the environment the command line (the edge) read; the model never reads it itself."""
    import json

    raw = environ.get(THRESHOLDS_ENV)
    if not raw or pipeline.spec.profile != "rocket":
        return pipeline
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PipelineInvalid(THRESHOLDS_ENV, [f"not JSON: {exc}"]) from exc
    if not isinstance(overrides, dict):
        raise PipelineInvalid(THRESHOLDS_ENV, ['must be a JSON object like {"engineTemp": {"min": 3500}}'])
    rules = {r.parameter: r.model_dump(by_alias=True) for r in pipeline.spec.rocket_rules}
    for parameter, change in overrides.items():
        if parameter not in rules:
            raise PipelineInvalid(THRESHOLDS_ENV, [f"{parameter}: no such rule; known: {', '.join(rules)}"])
        if not isinstance(change, dict) or not set(change) <= {"min", "max"}:
            raise PipelineInvalid(THRESHOLDS_ENV, [f'{parameter}: give min and/or max, e.g. {{"min": 3500}}'])
        rules[parameter].update(change)
    document = pipeline.model_dump(by_alias=True, exclude_none=True, mode="json")
    document["spec"]["detection"]["rules"] = list(rules.values())
    return parse_pipeline(document, f"{THRESHOLDS_ENV} applied to {pipeline.metadata.name}")
