"""The GridPipeline definition: validation with every problem by path, the CRD derived from it."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic.fields import FieldInfo

from gridpipe_schemas.crd import crd, spec_schema
from gridpipe_schemas.pipeline import (
    PRD_RULES,
    Duration,
    GridPipelineSpec,
    Model,
    PipelineInvalid,
    Source,
    duration_ms,
    fields_not_for_the_job,
    job_relevance,
    load_pipeline,
    model_classes,
    parse_pipeline,
    with_env_thresholds,
)

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _grid() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "examples" / "grid.yaml").read_text())
    return document


def _problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(PipelineInvalid) as caught:
        parse_pipeline(document)
    return caught.value.problems


@pytest.mark.parametrize("name", ["grid.yaml", "rocket.yaml"])
def test_examples_are_valid(name: str) -> None:
    pipeline = load_pipeline(ROOT / "examples" / name)
    assert pipeline.metadata.name.endswith("-demo")


def test_every_problem_is_listed_by_path() -> None:
    doc = _grid()
    doc["spec"]["detection"]["zscore"]["threshold"] = 5.0
    doc["spec"]["detection"]["zscore"]["window"] = "five minutes"
    doc["spec"]["sink"] = {}
    doc["spec"]["flink"]["parallelism"] = 0
    problems = _problems(doc)
    assert any(
        p.startswith("spec.detection.zscore.threshold: Input should be less than or equal to 4") for p in problems
    )
    assert any(p.startswith("spec.detection.zscore.window: String should match pattern") for p in problems)
    assert "spec.sink: unknown field; check its spelling against `gridctl pipeline crd`" in problems
    assert any(p.startswith("spec.flink.parallelism:") for p in problems)
    assert len(problems) == 4


def test_cross_field_rules_are_reported_with_field_errors() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "rocket.yaml").read_text())
    doc["spec"]["detection"]["rules"][0].update(min=90.0, max=10.0)
    doc["spec"]["outputs"]["partitions"] = -1
    problems = _problems(doc)
    assert "spec.detection.rules[0]: min must not be greater than max" in problems
    assert any(p.startswith("spec.outputs.partitions:") for p in problems)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s["detection"]["zscore"].update(bucket="10m", window="5m"),
            "spec.detection.zscore: bucket must not be longer than window",
        ),
        (
            lambda s: s["outputs"].update(anomaliesTopic="sensor-readings"),
            "spec: source, anomalies and dead-letter topics must all differ",
        ),
        (
            lambda s: s["detection"].update(
                rules=[dict(parameter="thrust", min=0, max=0, anomalyType="engine_shutdown")]
            ),
            "spec: rules apply to rocket pipelines only",
        ),
        (
            lambda s: s.update(detection={}),
            "spec: a grid pipeline needs detection.zscore or detection.equipmentFailure",
        ),
    ],
)
def test_cel_rules(change: Any, message: str) -> None:
    doc = _grid()
    change(doc["spec"])
    assert message in _problems(doc)


def test_durations() -> None:
    assert duration_ms("5m") == 300_000
    assert duration_ms("1h30m") == 5_400_000
    assert duration_ms("250ms") == 250
    with pytest.raises(ValueError, match="not a duration"):
        duration_ms("5 minutes")


def test_durations_are_parsed_once_and_written_back_as_written() -> None:
    doc = _grid()
    doc["spec"]["detection"]["zscore"].update(window="90m", bucket="1m30s")
    doc["spec"]["flink"]["checkpointInterval"] = "250ms"
    pipeline = parse_pipeline(doc)
    zscore = pipeline.spec.detection.zscore
    assert zscore is not None
    assert zscore.window == timedelta(minutes=90) and zscore.window.ms == 5_400_000
    assert zscore.bucket == timedelta(seconds=90) and pipeline.spec.flink.checkpoint_interval.ms == 250
    assert pipeline.spec.outputs.retention == timedelta(hours=24), "defaults are typed too"
    dumped = pipeline.model_dump(by_alias=True, exclude_none=True, mode="json")
    written = dumped["spec"]["detection"]["zscore"]
    assert (written["window"], written["bucket"]) == ("90m", "1m30s")
    assert dumped["spec"]["outputs"]["retention"] == "24h" and dumped["spec"]["flink"]["checkpointInterval"] == "250ms"
    assert parse_pipeline(dumped) == pipeline
    assert copy.deepcopy(zscore.window).text == "90m" and str(zscore.window) == "90m"
    assert Duration.parse("1h30m") == zscore.window


def _leaf_fields(cls: type[Model], path: str) -> list[tuple[str, FieldInfo]]:
    """Every field of ``cls`` and the models inside it that holds no model itself, with its path."""
    leaves = []
    for name, field in cls.model_fields.items():
        inner = model_classes(field.annotation)
        leaves += [leaf for model in inner for leaf in _leaf_fields(model, f"{path}.{name}")] or [
            (f"{path}.{name}", field)
        ]
    return leaves


def test_every_leaf_field_of_the_spec_says_whether_it_reaches_the_job() -> None:
    leaves = _leaf_fields(GridPipelineSpec, "spec")
    assert len(leaves) > 30
    assert [path for path, field in leaves if job_relevance(field) is None] == []
    assert fields_not_for_the_job(GridPipelineSpec) == {
        "source": {"partitions": True},
        "outputs": {"partitions": True, "retention": True},
        "sinks": {"influxdb": {"retention": True}},
        "flink": {"task_manager_memory": True, "task_manager_cpu": True, "job_manager_memory": True},
        "deletion_policy": True,
    }


def test_a_field_without_a_job_mark_is_refused_not_silently_sent_or_dropped() -> None:
    class SourceWithANewField(Source):
        replicas: int = 3

    with pytest.raises(TypeError, match=r"SourceWithANewField.replicas must be marked FOR_THE_JOB or NOT_FOR_THE_JOB"):
        fields_not_for_the_job(SourceWithANewField)


def test_rocket_defaults_to_the_prd_table_and_env_overrides_it() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "rocket.yaml").read_text())
    del doc["spec"]["detection"]["rules"]
    pipeline = parse_pipeline(doc)
    assert pipeline.spec.rocket_rules == PRD_RULES
    changed = with_env_thresholds(pipeline, {"ANOMALY_THRESHOLDS_CONFIG": json.dumps({"engineTemp": {"min": 3500}})})
    engine = next(r for r in changed.spec.rocket_rules if r.parameter == "engineTemp")
    assert (engine.min, engine.max) == (3500, 4000)
    with pytest.raises(PipelineInvalid, match="min must not be greater than max"):
        with_env_thresholds(pipeline, {"ANOMALY_THRESHOLDS_CONFIG": '{"thrust": {"min": 5}}'})
    with pytest.raises(PipelineInvalid, match="no such rule"):
        with_env_thresholds(pipeline, {"ANOMALY_THRESHOLDS_CONFIG": '{"altitude": {"min": 5}}'})


def test_committed_crd_is_the_generated_one() -> None:
    committed = yaml.safe_load((ROOT / "charts/gridpipe-operator/crds/gridpipelines.gridpipe.io.yaml").read_text())
    assert committed == crd(), (
        "run `uv run gridctl pipeline crd > charts/gridpipe-operator/crds/gridpipelines.gridpipe.io.yaml`"
    )


def test_crd_schema_is_structural_and_carries_the_rules() -> None:
    text = json.dumps(spec_schema())
    assert "$ref" not in text and "anyOf" not in text and '"title"' not in text
    schema = spec_schema()
    z = schema["properties"]["detection"]["properties"]["zscore"]["properties"]["threshold"]
    assert (z["minimum"], z["maximum"], z["default"]) == (1.5, 4.0, 2.5)
    rule = schema["properties"]["detection"]["properties"]["rules"]["items"]
    assert {"rule": "self.min <= self.max", "message": "min must not be greater than max"} in rule[
        "x-kubernetes-validations"
    ]
    version = crd()["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    assert {c["name"] for c in version["additionalPrinterColumns"]} >= {"Phase", "Job", "Threshold", "Age"}
    assert crd()["spec"]["names"]["shortNames"] == ["gp", "gpipe"]


def test_a_spec_valid_here_is_unchanged_by_a_round_trip() -> None:
    pipeline = parse_pipeline(_grid())
    again = parse_pipeline(copy.deepcopy(pipeline.model_dump(by_alias=True, exclude_none=True, mode="json")))
    assert again == pipeline
