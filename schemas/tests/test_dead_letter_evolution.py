"""DeadLetter gained original_size, original_sha256 and original_truncated with defaults: old letters still read."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest

from gridpipe_schemas.catalog import avro

pytestmark = pytest.mark.unit
ADDED = {"original_size": -1, "original_sha256": "", "original_truncated": False}


def test_a_letter_written_without_the_new_fields_reads_with_their_defaults() -> None:
    current: dict[str, Any] = json.loads(avro("DeadLetter").text)
    before = {**current, "fields": [f for f in current["fields"] if f["name"] not in ADDED]}
    letter = {
        "pipeline": "grid-demo",
        "reason": "BAD_MAGIC_BYTE",
        "error_class": "io.gridpipe.flink.Validation",
        "error_message": "expected the Confluent wire format",
        "source_topic": "readings",
        "source_partition": 0,
        "source_offset": 7,
        "source_timestamp": None,
        "original_key": b"MTR-1",
        "original_value": b"{}",
        "dead_lettered_at": 1767225600015,
    }
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(before), letter)
    buffer.seek(0)
    read = fastavro.schemaless_reader(buffer, fastavro.parse_schema(before), fastavro.parse_schema(current))
    assert isinstance(read, dict)
    assert {name: read[name] for name in ADDED} == ADDED
    assert read["original_value"] == b"{}" and read["source_offset"] == 7
