"""Registration against the real Apicurio registry, through its Confluent-compatible API."""

from __future__ import annotations

import io
import json
import struct
import uuid
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pytest

from gridpipe_schemas.catalog import SchemaDoc, SchemaType, avro, example, json_schema
from gridpipe_schemas.registry import RegistryError, SchemaRegistry
from gridpipe_schemas.subjects import PipelineKind, subjects_for
from gridpipe_stack.config import StackConfig

pytestmark = pytest.mark.integration
PREVIOUS = Path(__file__).parent / "previous"


def _reading_schema(change: Any = None) -> SchemaDoc:
    schema = json.loads(avro("SensorReading").text)
    if change:
        change(schema["fields"])
    return SchemaDoc("SensorReading", SchemaType.AVRO, json.dumps(schema))


def _fresh_subject() -> str:
    return f"test-{uuid.uuid4().hex[:8]}-value"


def test_register_all_is_idempotent_with_backward_compatibility(local_stack: StackConfig) -> None:
    with SchemaRegistry(local_stack.registry_url) as registry:
        entries = subjects_for(PipelineKind.GRID) + subjects_for(PipelineKind.ROCKET)
        first = registry.register_all(entries)
        second = registry.register_all(entries)
        assert [r.schema_id for r in first] == [r.schema_id for r in second]
        assert not any(r.created for r in second)
        for subject, _ in entries:
            config = httpx.get(f"{local_stack.registry_url}/config/{subject}", timeout=10).json()
            assert config["compatibilityLevel"] == "BACKWARD"


def test_new_optional_field_is_accepted_and_old_records_still_decode(local_stack: StackConfig) -> None:
    subject = _fresh_subject()
    v1 = _reading_schema()
    v2 = _reading_schema(lambda fields: fields.append({"name": "phase", "type": ["null", "string"], "default": None}))
    with SchemaRegistry(local_stack.registry_url) as registry:
        old = registry.register(subject, v1)
        new = registry.register(subject, v2)
    assert new.created and new.version == old.version + 1 and new.schema_id != old.schema_id

    # A record written with v1 in the Confluent wire format, read by a v2 reader after looking up its writer.
    record = example("SensorReading")
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, old.schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(v1.parsed), record)
    wire = buffer.getvalue()
    writer_id = struct.unpack(">bI", wire[:5])[1]
    writer_text = httpx.get(f"{local_stack.registry_url}/schemas/ids/{writer_id}", timeout=10).json()["schema"]
    decoded: Any = fastavro.schemaless_reader(
        io.BytesIO(wire[5:]), fastavro.parse_schema(json.loads(writer_text)), fastavro.parse_schema(v2.parsed)
    )
    assert decoded["meter_id"] == record["meter_id"] and decoded["phase"] is None


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda fields: next(f for f in fields if f["name"] == "voltage").update(type="string"), "type change"),
        (lambda fields: fields.append({"name": "substation", "type": "string"}), "new required field"),
    ],
)
def test_incompatible_change_is_refused_with_the_registry_reason(
    local_stack: StackConfig, change: Any, what: str
) -> None:
    subject = _fresh_subject()
    with SchemaRegistry(local_stack.registry_url) as registry:
        registry.register(subject, _reading_schema())
        with pytest.raises(RegistryError) as caught:
            registry.register(subject, _reading_schema(change))
        assert registry.versions(subject) == [1], f"a {what} must not create a version"
    message = str(caught.value)
    assert f"refused SensorReading for subject {subject} as incompatible (BACKWARD)" in message
    assert "fix:" in message
    assert len(message.split(": ", 1)[1]) > 40, "the registry's own reason is shown"


def test_removing_a_required_field_follows_avro_backward_rules(local_stack: StackConfig) -> None:
    """BACKWARD means the new schema reads old data; a reader without a field simply skips it, so Avro allows it.

    Consumers still on the old schema would break, which is what FORWARD/FULL guard against; see docs/schemas.md.
    """
    subject = _fresh_subject()
    v2 = _reading_schema(lambda fields: fields.remove(next(f for f in fields if f["name"] == "temperature")))
    with SchemaRegistry(local_stack.registry_url) as registry:
        registry.register(subject, _reading_schema())
        compatible, _ = registry.is_compatible(subject, v2)
    assert compatible


def test_anomaly_event_renamed_with_aliases_follows_the_version_it_replaces(local_stack: StackConfig) -> None:
    """reading, threshold_sigma, deviation_sigma became T101's original_event, threshold_used, deviation: accepted as
    the next version of a subject that holds the old schema (as on every existing stack), thanks to the aliases."""
    subject = _fresh_subject()
    previous = SchemaDoc("AnomalyEvent", SchemaType.AVRO, (PREVIOUS / "AnomalyEvent-1.avsc").read_text())
    current = avro("AnomalyEvent")
    unaliased = json.loads(current.text)
    for field in unaliased["fields"]:
        field.pop("aliases", None)
    with SchemaRegistry(local_stack.registry_url) as registry:
        old = registry.register(subject, previous)
        compatible, _ = registry.is_compatible(
            subject, SchemaDoc("AnomalyEvent", SchemaType.AVRO, json.dumps(unaliased))
        )
        new = registry.register(subject, current)
    assert not compatible, "without the aliases the rename is refused (else this test would prove nothing)"
    assert new.created and new.version == old.version + 1

    # A record written under the registered old version decodes with today's schema, under today's names.
    writer = fastavro.parse_schema(
        json.loads(httpx.get(f"{local_stack.registry_url}/schemas/ids/{old.schema_id}", timeout=10).json()["schema"])
    )
    old_names = {"original_event": "reading", "threshold_used": "threshold_sigma", "deviation": "deviation_sigma"}
    record = {old_names.get(key, key): value for key, value in example("AnomalyEvent").items()}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer, record)
    buffer.seek(0)
    decoded: Any = fastavro.schemaless_reader(buffer, writer, fastavro.parse_schema(current.parsed))
    assert decoded["original_event"]["meter_id"] == record["reading"]["meter_id"]
    assert (decoded["threshold_used"], decoded["deviation"]) == (record["threshold_sigma"], record["deviation_sigma"])


def test_anomaly_alert_with_uuid_ids_follows_the_version_it_replaces(local_stack: StackConfig) -> None:
    """alertId became a UUID. Constraining it to one (format or pattern) is refused: the topic still holds older ids;
    so the schema only describes it, and that passes as the next version of every existing rocket-anomalies subject."""
    subject = _fresh_subject()
    previous = SchemaDoc("AnomalyAlert", SchemaType.JSON, (PREVIOUS / "AnomalyAlert-1.schema.json").read_text())
    strict = json_schema("AnomalyAlert").parsed
    strict["properties"]["alertId"].update(format="uuid", pattern="^[0-9a-f-]{36}$")
    with SchemaRegistry(local_stack.registry_url) as registry:
        old = registry.register(subject, previous)
        compatible, _ = registry.is_compatible(subject, SchemaDoc("AnomalyAlert", SchemaType.JSON, json.dumps(strict)))
        new = registry.register(subject, json_schema("AnomalyAlert"))
    assert not compatible
    assert new.created and new.version == old.version + 1


def test_unreachable_registry_is_a_clear_error() -> None:
    with (
        SchemaRegistry("http://127.0.0.1:9/apis/ccompat/v7", timeout=2) as registry,
        pytest.raises(RegistryError, match=r"unreachable.*fix: start it"),
    ):
        registry.register(_fresh_subject(), _reading_schema())
