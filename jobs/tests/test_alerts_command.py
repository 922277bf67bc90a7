"""`gridctl alerts` on the real stack, across a schema evolution of the alerts it shows."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import fastavro
import pytest
import yaml

from gridpipe_jobs.alerts import alerts
from gridpipe_jobs.topics import ensure_topics
from gridpipe_schemas.catalog import SchemaDoc, SchemaType, avro, example
from gridpipe_schemas.pipeline import parse_pipeline
from gridpipe_schemas.registry import SchemaRegistry
from gridpipe_stack.config import StackConfig
from jobtesting import grid_document, unique

pytestmark = pytest.mark.integration
PREVIOUS = Path(__file__).resolve().parents[2] / "schemas" / "tests" / "previous" / "AnomalyEvent-1.avsc"
OLD_NAMES = {"original_event": "reading", "threshold_used": "threshold_sigma", "deviation": "deviation_sigma"}


def _wire(schema_id: int, schema: SchemaDoc, record: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema.parsed), record)
    return buffer.getvalue()


def test_alerts_written_before_and_after_the_t101_rename_print_alike(
    local_stack: StackConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from confluent_kafka import Producer

    document = grid_document(unique("alerts-cmd"))
    pipeline = parse_pipeline(document)
    ensure_topics(pipeline, local_stack.kafka_bootstrap)
    topic = pipeline.spec.outputs.anomalies_topic
    previous = SchemaDoc("AnomalyEvent", SchemaType.AVRO, PREVIOUS.read_text())
    with SchemaRegistry(local_stack.registry_url) as registry:
        old = registry.register(f"{topic}-value", previous)
        new = registry.register(f"{topic}-value", avro("AnomalyEvent"))
    current = example("AnomalyEvent")
    before = {OLD_NAMES.get(key, key): value for key, value in current.items()}
    producer = Producer({"bootstrap.servers": local_stack.kafka_bootstrap})
    producer.produce(topic, _wire(old.schema_id, previous, before), b"MTR-000042")
    producer.produce(topic, _wire(new.schema_id, avro("AnomalyEvent"), current), b"MTR-000042")
    assert producer.flush(30) == 0

    definition = tmp_path / "grid.yaml"
    definition.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("GRIDPIPE_PORT_BASE", str(local_stack.ports.base))
    alerts(file=definition, from_beginning=True, count=2, timeout=60)
    shown = capsys.readouterr().out.splitlines()[1:]
    assert len(shown) == 2 and shown[0] == shown[1], shown
    assert "ERROR    VOLTAGE_SURGE     MTR-000042 voltage=262.90" in shown[0]
