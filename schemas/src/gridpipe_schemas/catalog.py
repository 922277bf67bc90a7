"""Load the schema files: Avro with named references inlined, JSON Schema with ``$ref``s resolved.

Named types are written once (SensorReading, TelemetryMessage) and referenced by name from the schemas that embed
them; what is registered and used on the wire is the self-contained form produced here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from jsonschema import Draft7Validator
from referencing import Registry, Resource

AVRO_NAMES = ("SensorReading", "AnomalyEvent", "DeadLetter", "TelemetryMessage", "AnomalyAlert")
JSON_NAMES = ("TelemetryMessage", "AnomalyAlert")
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class SchemaType(StrEnum):
    AVRO = "AVRO"
    JSON = "JSON"


@dataclass(frozen=True)
class SchemaDoc:
    """One schema as the registry sees it."""

    name: str
    type: SchemaType
    text: str

    @property
    def parsed(self) -> Any:
        return json.loads(self.text)


def _read(folder: str, file_name: str) -> Any:
    return json.loads(resources.files("gridpipe_schemas").joinpath(folder, file_name).read_text())


def _full_name(schema: dict[str, Any]) -> str:
    return f"{schema['namespace']}.{schema['name']}" if "namespace" in schema else str(schema["name"])


def _inline(node: Any, named: dict[str, Any], seen: set[str]) -> Any:
    """Replace the first reference to each named record by its definition; later ones stay references."""
    if isinstance(node, str):
        if node in _PRIMITIVES or node in seen:
            return node
        if node in named:
            seen.add(node)
            return _inline(named[node], named, seen)
        return node
    if isinstance(node, list):
        return [_inline(item, named, seen) for item in node]
    if isinstance(node, dict):
        if node.get("type") in ("record", "enum", "fixed") and "name" in node:
            seen.add(node["name"])
        return {
            key: _inline(value, named, seen) if key in {"type", "fields", "items", "values"} else value
            for key, value in node.items()
        }
    return node


@cache
def _raw_avro() -> dict[str, Any]:
    return {name: _read("avro", f"{name}.avsc") for name in AVRO_NAMES}


@cache
def avro(name: str) -> SchemaDoc:
    """The self-contained Avro schema ``name`` (e.g. "SensorReading")."""
    raw = _raw_avro()
    if name not in raw:
        raise KeyError(f"no Avro schema {name!r}; known: {', '.join(AVRO_NAMES)}")
    named = {schema["name"]: schema for schema in raw.values()}
    inlined = _inline(raw[name], {k: v for k, v in named.items() if k != name}, {name})
    fastavro.parse_schema(inlined)  # raises on any mistake in the files
    return SchemaDoc(name, SchemaType.AVRO, json.dumps(inlined, separators=(",", ":")))


def parsed_avro(name: str) -> Any:
    return fastavro.parse_schema(json.loads(avro(name).text))


@cache
def _json_registry() -> Registry[Any]:
    resources_ = [
        (doc["$id"], Resource.from_contents(doc))
        for doc in (_read("jsonschema", f"{n}.schema.json") for n in JSON_NAMES)
    ]
    return Registry().with_resources(resources_)


def _resolve_refs(node: Any) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = dict(_json_registry().contents(node["$ref"]))
            for key in ("$schema", "$id"):
                target.pop(key, None)
            return _resolve_refs(target)
        return {key: _resolve_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve_refs(item) for item in node]
    return node


@cache
def json_schema(name: str) -> SchemaDoc:
    """The self-contained JSON Schema ``name`` (references inlined, so a registry needs no reference list)."""
    if name not in JSON_NAMES:
        raise KeyError(f"no JSON Schema {name!r}; known: {', '.join(JSON_NAMES)}")
    inlined = _resolve_refs(_read("jsonschema", f"{name}.schema.json"))
    Draft7Validator.check_schema(inlined)
    return SchemaDoc(name, SchemaType.JSON, json.dumps(inlined, separators=(",", ":")))


@cache
def json_validator(name: str) -> Draft7Validator:
    return Draft7Validator(json_schema(name).parsed, format_checker=Draft7Validator.FORMAT_CHECKER)


def example(name: str) -> dict[str, Any]:
    """The example payload shipped for schema ``name``, in its JSON form."""
    loaded: dict[str, Any] = _read("examples", f"{name}.json")
    return loaded
