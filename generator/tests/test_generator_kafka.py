"""The generator against the real local Kafka and registry."""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from gridpipe_generator.records import LABEL_HEADER, PRODUCED_AT_HEADER, SEQ_HEADER
from gridpipe_generator.run import Generator, GeneratorConfig, build_stream
from gridpipe_schemas.catalog import json_validator
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig

pytestmark = pytest.mark.integration
GENERATOR = [sys.executable, "-m", "gridpipe_generator"]


def _config(stack: StackConfig, profile: PipelineKind, **overrides: Any) -> GeneratorConfig:
    fields: dict[str, Any] = {
        "event_rate": 2000,
        "count": 3000,
        "anomaly_rate": 0.01,
        "malformed_rate": 0.0,
        "meters": 200,
        "seed": 3,
        **overrides,
    }
    return GeneratorConfig(profile, stack.kafka_bootstrap, stack.registry_url, f"gen-{uuid.uuid4().hex[:8]}", **fields)


def _consume(stack: StackConfig, topic: str, count: int, timeout: float = 60) -> list[Any]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka_bootstrap,
            "group.id": f"t-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                messages.append(message)
    finally:
        consumer.close()
    return messages


def test_grid_records_decode_with_their_registered_schema(local_stack: StackConfig) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    cfg = _config(local_stack, PipelineKind.GRID)
    summary = Generator(cfg, progress=lambda _: None).run()
    assert summary.sent == 3000 and summary.failed == 0
    messages = _consume(local_stack, cfg.topic, 3000)
    assert len(messages) == 3000
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": local_stack.registry_url}))
    labels_by_seq: dict[int, str] = {}
    for message in messages:
        reading = deserialize(message.value(), SerializationContext(cfg.topic, MessageField.VALUE))
        assert message.key().decode() == reading["meter_id"]
        headers = dict(message.headers())
        assert {LABEL_HEADER, SEQ_HEADER, PRODUCED_AT_HEADER} <= set(headers)
        labels_by_seq[int(headers[SEQ_HEADER])] = headers[LABEL_HEADER].decode()
    # Labels do not depend on time, so the stream rebuilt from the same config says what each record must carry.
    expected = [r.label for r in itertools.islice(build_stream(cfg, 1, 0), 3000)]
    assert [labels_by_seq[i] for i in range(3000)] == expected
    assert sum(label.startswith("anomaly:") for label in expected) > 10


def test_rocket_records_validate_against_their_json_schema(local_stack: StackConfig) -> None:
    cfg = _config(local_stack, PipelineKind.ROCKET, event_rate=200, count=400, anomaly_rate=0.05)
    assert Generator(cfg, progress=lambda _: None).run().sent == 400
    validator = json_validator("TelemetryMessage")
    for message in _consume(local_stack, cfg.topic, 400):
        telemetry = json.loads(message.value())
        assert not list(validator.iter_errors(telemetry))
        assert message.key().decode() == telemetry["rocketId"]


@pytest.mark.parametrize("rate", [1_000, 10_000])
def test_rate_is_held_within_two_percent(local_stack: StackConfig, rate: int) -> None:
    cfg = _config(local_stack, PipelineKind.GRID, event_rate=rate, count=None, duration=10.0, meters=10_000)
    summary = Generator(cfg, progress=lambda _: None).run()
    assert summary.failed == 0
    assert abs(summary.achieved_rate - rate) / rate < 0.02, summary.lines()
    assert abs(summary.sent - 10 * rate) / (10 * rate) < 0.02


def _run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GENERATOR, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def test_ctrl_c_flushes_and_prints_the_summary(local_stack: StackConfig) -> None:
    process = subprocess.Popen(
        [
            *GENERATOR,
            "--kafka-bootstrap-servers",
            local_stack.kafka_bootstrap,
            "--schema-registry-url",
            local_stack.registry_url,
            "--topic",
            f"gen-{uuid.uuid4().hex[:8]}",
            "--event-rate",
            "2000",
            "--anomaly-rate",
            "0.01",
            "--meters",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Ctrl-C while it runs: before its handler is installed, a SIGINT that the parent ignores (as background jobs
    # do) would be ignored by the child too, so wait for the first progress line.
    first = _first_line(process, timeout=60)
    assert first.startswith("…"), first
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "sent " in out and "failed 0" in out and "anomalies injected:" in out


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stderr is not None
    with concurrent.futures.ThreadPoolExecutor(1) as reader:
        line = reader.submit(process.stderr.readline)
        try:
            return line.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            process.kill()
            raise


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--kafka-bootstrap-servers", "127.0.0.1:9"], "Kafka at 127.0.0.1:9 is unreachable"),
        (["--schema-registry-url", "http://127.0.0.1:9/apis/ccompat/v7"], "schema registry at http://127.0.0.1:9"),
        (["--event-rate", "-5"], "Invalid value for '--event-rate'"),
        (["--profile", "boat"], "Invalid value for '--profile'"),
    ],
)
def test_bad_flags_or_unreachable_services_fail_fast_with_one_line(
    local_stack: StackConfig, args: list[str], needle: str
) -> None:
    began = time.monotonic()
    defaults = [
        "--kafka-bootstrap-servers",
        local_stack.kafka_bootstrap,
        "--schema-registry-url",
        local_stack.registry_url,
    ]
    done = _run_cli(*defaults, *args, "--duration", "2")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and needle in errors[0] and errors[0].startswith("error: ")
    assert time.monotonic() - began < 10
