"""The GridPipeline CustomResourceDefinition, generated from the pydantic models in ``pipeline.py``.

pydantic's JSON Schema is turned into a Kubernetes structural schema: references inlined, ``Optional`` as
``nullable``, titles dropped, and each model's CEL rules attached as ``x-kubernetes-validations``.
"""

from __future__ import annotations

from typing import Any

from gridpipe_schemas.pipeline import API_GROUP, API_VERSION, KIND, GridPipelineSpec, Model, model_classes

PLURAL = "gridpipelines"
DESCRIPTION = "A streaming anomaly-detection pipeline: source topic, detectors, outputs, sinks."
CONDITION_TYPES = ("Ready", "TopicsReady", "JobRunning", "SchemasRegistered", "StorageReady")


def _rules_by_title() -> dict[str, list[dict[str, str]]]:
    """CEL rules of every model, keyed by the model's JSON Schema title (its class name)."""
    found: dict[str, list[dict[str, str]]] = {}
    pending: list[type[Model]] = [GridPipelineSpec]
    while pending:
        cls = pending.pop()
        if cls.__name__ in found:
            continue
        found[cls.__name__] = [{"rule": r.rule, "message": r.message} for r in cls.CEL_RULES]
        for field in cls.model_fields.values():
            pending.extend(model_classes(field.annotation))
    return found


def _structural(node: Any, defs: dict[str, Any], rules: dict[str, list[dict[str, str]]]) -> Any:
    if isinstance(node, list):
        return [_structural(item, defs, rules) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs, rules)
    variants = node.get("anyOf")
    if variants and any(v.get("type") == "null" for v in variants):
        # Optional[X] = None: an optional field is simply left out, so neither null nor a null default is kept.
        (inner,) = [v for v in variants if v.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k not in {"anyOf", "default"}}
        return _structural({**inner, **rest}, defs, rules)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in {"title", "$defs", "additionalProperties"} or (key == "default" and value is None):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "properties":
            out[key] = {name: _structural(sub, defs, rules) for name, sub in value.items()}
        else:
            out[key] = _structural(value, defs, rules)
    if "properties" in out:
        out.setdefault("type", "object")
    title = node.get("title")
    if out.get("type") == "object" and title in rules and rules[title]:
        out["x-kubernetes-validations"] = rules[title]
    return out


def spec_schema() -> dict[str, Any]:
    raw = GridPipelineSpec.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = _structural(raw, raw.get("$defs", {}), _rules_by_title())
    return schema


def _status_schema() -> dict[str, Any]:
    condition = {
        "type": "object",
        "required": ["type", "status"],
        "properties": {
            "type": {"type": "string", "enum": list(CONDITION_TYPES)},
            "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "lastTransitionTime": {"type": "string", "format": "date-time"},
            "observedGeneration": {"type": "integer"},
        },
    }
    return {
        "type": "object",
        "properties": {
            "observedGeneration": {"type": "integer"},
            "phase": {"type": "string", "enum": ["Pending", "Deploying", "Running", "Degraded", "Failed", "Deleting"]},
            "jobState": {"type": "string"},
            "jobId": {"type": "string"},
            "conditions": {
                "type": "array",
                "items": condition,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


def crd() -> dict[str, Any]:
    """The full CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": PLURAL,
                "singular": "gridpipeline",
                "kind": KIND,
                "listKind": f"{KIND}List",
                "shortNames": ["gp", "gpipe"],
                "categories": ["gridpipe"],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Profile", "type": "string", "jsonPath": ".spec.profile"},
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Job", "type": "string", "jsonPath": ".status.jobState"},
                        {"name": "Threshold", "type": "number", "jsonPath": ".spec.detection.zscore.threshold"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": DESCRIPTION,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": _status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }
