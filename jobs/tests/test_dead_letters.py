"""Dead letters on the real stack: no record, however large, and no trouble with the dead-letter topic fails the job."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridpipe_generator.run import Generator, GeneratorConfig, build_stream
from gridpipe_jobs import flinkrest
from gridpipe_schemas.pipeline import parse_pipeline
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_schemas.topics import create_missing_topics
from gridpipe_stack.config import StackConfig
from jobtesting import RunningPipeline, consume, decode_avro, grid_document, rocket_document, unique
from sinktesting import prometheus_value

pytestmark = pytest.mark.integration
START_MS = 1_767_225_600_000
SOURCE_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # what users set on a source topic for large payloads
# The job's dead-letter producer's max.request.size (1 MiB, below the topic's 1,048,588) less the record overhead.
LETTER_LIMIT = 1_048_576 - 128


def _large_source_topic(stack: StackConfig, document: dict[str, Any]) -> None:
    source = document["spec"]["source"]
    config = {"max.message.bytes": str(SOURCE_MAX_MESSAGE_BYTES)}
    create_missing_topics(stack.kafka_bootstrap, {source["topic"]: (source["partitions"], config)})


def _produce(stack: StackConfig, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": stack.kafka_bootstrap,
            "enable.idempotence": True,
            "message.max.bytes": SOURCE_MAX_MESSAGE_BYTES,
            "partitioner": "murmur2_random",
        }
    )
    for key, value in records:
        producer.produce(topic, value, key)
    assert producer.flush(60) == 0


def _equipment_failures(stack: StackConfig, topic: str, partitions: int, seed: int) -> int:
    """Generate normal traffic with equipment failures; return how many alerts it must raise."""
    cfg = GeneratorConfig(
        PipelineKind.GRID,
        stack.kafka_bootstrap,
        stack.registry_url,
        topic,
        event_rate=0,
        count=1500,
        meters=20,
        seed=seed,
        start_ms=START_MS,
        anomaly_rate=0.02,
        malformed_rate=0.0,
        partitions=partitions,
    )
    assert Generator(cfg, progress=lambda _: None).run().failed == 0
    wanted = sum(1 for r in itertools.islice(build_stream(cfg, 1, 0), cfg.count) if "EQUIPMENT_FAILURE" in r.label)
    assert wanted > 0, "the seed gives equipment failures to alert on"
    return wanted


def _equipment_failure_alerts(stack: StackConfig, topic: str, wanted: int) -> int:
    """How many distinct EQUIPMENT_FAILURE alerts arrived, waiting up to two minutes for ``wanted`` of them."""
    ids: set[str] = set()
    deadline = time.monotonic() + 120
    while len(ids) < wanted and time.monotonic() < deadline:
        alerts = decode_avro(stack, consume(stack, topic, idle=5, timeout=30))
        ids = {a["alert_id"] for a in alerts if a["anomaly_type"] == "EQUIPMENT_FAILURE"}
    return len(ids)


def _assert_running_without_restarts(stack: StackConfig, job_id: str) -> None:
    job = httpx.get(f"{stack.flink_url}/jobs/{job_id}", timeout=10).json()
    assert job["state"] == "RUNNING"
    (restarts,) = httpx.get(
        f"{stack.flink_url}/jobs/{job_id}/metrics", params={"get": "numRestarts"}, timeout=10
    ).json()
    assert restarts["value"] == "0", "the job never failed over"
    history = httpx.get(f"{stack.flink_url}/jobs/{job_id}/exceptions", timeout=10).json()
    assert not history.get("exceptionHistory", {}).get("entries")


def _checkpoints(stack: StackConfig, job_id: str) -> int:
    response = httpx.get(f"{stack.flink_url}/jobs/{job_id}/checkpoints", timeout=10).json()
    return int(response["counts"]["completed"])


def _wait_for_checkpoints(stack: StackConfig, job_id: str, more: int) -> None:
    wanted = _checkpoints(stack, job_id) + more
    deadline = time.monotonic() + 60
    while _checkpoints(stack, job_id) < wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _checkpoints(stack, job_id) >= wanted


def _check_letter(letter: dict[str, Any], message: Any, original: bytes, *, whole: bool) -> None:
    assert len(message.value()) + len(message.key() or b"") <= LETTER_LIMIT
    assert letter["original_size"] == len(original)
    assert letter["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert letter["original_truncated"] is (not whole)
    if whole:
        assert letter["original_value"] == original
    else:
        kept = letter["original_value"]
        assert 0 < len(kept) < len(original) and original.startswith(kept)
        # The longest prefix that fits: the rest of the letter is a few hundred bytes.
        assert len(message.value()) + len(message.key() or b"") > LETTER_LIMIT - 16


def _run_with_large_source(run_pipeline: Any, local_stack: StackConfig, document: dict[str, Any]) -> RunningPipeline:
    _large_source_topic(local_stack, document)
    running: RunningPipeline = run_pipeline(document)
    return running


def test_oversized_grid_records_are_cut_and_the_job_runs_on(local_stack: StackConfig, run_pipeline: Any) -> None:
    running = _run_with_large_source(run_pipeline, local_stack, grid_document(unique("grid-big")))
    spec = running.pipeline.spec
    oversized = {
        b"two-megabytes": b"x" * (2 * 1024 * 1024),
        b"at-the-limit": b"y" * LETTER_LIMIT,  # fits Kafka alone; with the envelope the letter would not
        b"just-fits": b"z" * (LETTER_LIMIT - 1000),
    }
    _produce(local_stack, spec.source.topic, list(oversized.items()))
    failures = _equipment_failures(local_stack, spec.source.topic, spec.source.partitions, seed=5)

    assert _equipment_failure_alerts(local_stack, spec.outputs.anomalies_topic, failures) == failures
    _wait_for_checkpoints(local_stack, running.job_id, 2)
    messages = consume(local_stack, spec.outputs.dead_letter_topic, idle=5, timeout=60)
    letters = decode_avro(local_stack, messages)
    assert sorted(m.key() for m in messages) == sorted(oversized), "each dead letter once"
    for message, letter in zip(messages, letters, strict=True):
        assert letter["reason"] == "BAD_MAGIC_BYTE" and letter["source_topic"] == spec.source.topic
        assert letter["original_key"] == message.key()
        _check_letter(letter, message, oversized[message.key()], whole=message.key() == b"just-fits")
    _assert_running_without_restarts(local_stack, running.job_id)


def test_an_oversized_rocket_message_is_cut_and_alerts_follow(local_stack: StackConfig, run_pipeline: Any) -> None:
    running = _run_with_large_source(run_pipeline, local_stack, rocket_document(unique("rocket-big")))
    spec = running.pipeline.spec
    # The decoder quotes the offending value in its message: the letter's error_message must not carry 2 MB too.
    huge = json.dumps({"rocketId": ["9" * (2 * 1024 * 1024)], "thrust": 0.0}).encode()
    normal = {
        "rocketId": "Falcon-9-001",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "missionTime": 10.0,
        "engineEfficiency": 92.0,
        "burnRate": 2450.0,
        "sensorNoise": 0.5,
        "guidanceError": 0.3,
        "fuelLeakRate": 1.0,
        "engineTemp": 3100.0,
        "thrust": 0.0,
        "activeAnomalies": 0,
    }
    _produce(local_stack, spec.source.topic, [(b"F9-huge", huge), (b"F9", json.dumps(normal).encode())])

    (alert,) = [json.loads(m.value()) for m in consume(local_stack, spec.outputs.anomalies_topic, expect=1)]
    assert alert["anomalyType"] == "engine_shutdown"
    _wait_for_checkpoints(local_stack, running.job_id, 2)
    (message,) = consume(local_stack, spec.outputs.dead_letter_topic, idle=5, timeout=60)
    (letter,) = decode_avro(local_stack, [message])
    assert letter["source_offset"] == 0 and letter["source_partition"] == 0
    assert letter["reason"] == "SCHEMA_VIOLATION" and len(letter["error_message"]) == 1000
    _check_letter(letter, message, huge, whole=False)
    _assert_running_without_restarts(local_stack, running.job_id)


def _set_topic_config(stack: StackConfig, topic: str, name: str, value: str) -> None:
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap})
    entry = ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
    for future in admin.incremental_alter_configs(
        [ConfigResource("TOPIC", topic, incremental_configs=[entry])]
    ).values():
        future.result(timeout=15)


def _prometheus_sum(stack: StackConfig, metric: str, job_id: str) -> float:
    query = f'sum(flink_taskmanager_job_task_operator_{metric}{{job_id="{job_id}"}})'
    return prometheus_value(stack, query) or 0.0


def _wait_for_metric(stack: StackConfig, metric: str, job_id: str, at_least: float) -> float:
    deadline = time.monotonic() + 90
    value = _prometheus_sum(stack, metric, job_id)
    while value < at_least and time.monotonic() < deadline:
        time.sleep(2)
        value = _prometheus_sum(stack, metric, job_id)
    return value


def _take_letters_again_and_expect_each_once(
    stack: StackConfig, dlq: str, bad: list[tuple[bytes | None, bytes]]
) -> None:
    """Let the dead-letter topic take keyless letters again; the letter of every record in ``bad`` arrives, once."""
    _set_topic_config(stack, dlq, "cleanup.policy", "delete")
    consume(stack, dlq, expect=len(bad), timeout=90)
    messages = consume(stack, dlq, idle=5, timeout=60)
    values = sorted(letter["original_value"] for letter in decode_avro(stack, messages))
    assert values == sorted(v for _, v in bad), "every letter arrives, once"


def test_a_dead_letter_topic_refusing_writes_neither_stops_alerts_nor_loses_letters(
    local_stack: StackConfig, run_pipeline: Any
) -> None:
    document = grid_document(unique("grid-dlq-down"))
    running: RunningPipeline = run_pipeline(document)
    spec = parse_pipeline(document).spec
    dlq = spec.outputs.dead_letter_topic
    # A compacted topic refuses records without a key (INVALID_RECORD), as the letters of these keyless records are.
    _set_topic_config(local_stack, dlq, "cleanup.policy", "compact")
    bad: list[tuple[bytes | None, bytes]] = [(None, f"not avro {i}".encode()) for i in range(5)]
    _produce(local_stack, spec.source.topic, bad)
    failures = _equipment_failures(local_stack, spec.source.topic, spec.source.partitions, seed=6)

    assert _equipment_failure_alerts(local_stack, spec.outputs.anomalies_topic, failures) == failures, (
        "alerts keep flowing"
    )
    assert _wait_for_metric(local_stack, "deadLetterWriteFailures", running.job_id, 1) >= 1
    assert _wait_for_metric(local_stack, "deadLettersPending", running.job_id, len(bad)) == len(bad)
    _wait_for_checkpoints(local_stack, running.job_id, 2)  # checkpoints complete while Kafka refuses the letters
    assert consume(local_stack, dlq, idle=2, timeout=5) == []
    _assert_running_without_restarts(local_stack, running.job_id)

    _take_letters_again_and_expect_each_once(local_stack, dlq, bad)
    _assert_running_without_restarts(local_stack, running.job_id)


def test_letters_kafka_refused_survive_a_restart_from_a_savepoint_and_arrive_once(
    local_stack: StackConfig, run_pipeline: Any, tmp_path: Path
) -> None:
    """The letters the writer still holds are its checkpointed state: a job stopped with a savepoint while the
    dead-letter topic refuses them, and restarted from it, sends them once the topic takes them, each once."""
    document = grid_document(unique("grid-dlq-restart"))
    running: RunningPipeline = run_pipeline(document)
    spec = parse_pipeline(document).spec
    dlq = spec.outputs.dead_letter_topic
    _set_topic_config(local_stack, dlq, "cleanup.policy", "compact")  # refuses the keyless letters
    bad: list[tuple[bytes | None, bytes]] = [(None, f"not avro, before the restart {i}".encode()) for i in range(5)]
    _produce(local_stack, spec.source.topic, bad)
    assert _wait_for_metric(local_stack, "deadLettersPending", running.job_id, len(bad)) == len(bad)

    savepoint = flinkrest.stop_with_savepoint(local_stack.flink_url, running.job_id, (tmp_path / "sp").as_uri())
    restored: RunningPipeline = run_pipeline(document, restore_from=savepoint)
    assert _wait_for_metric(local_stack, "deadLettersPending", restored.job_id, len(bad)) == len(bad), (
        "the restored writer holds the letters again"
    )
    assert consume(local_stack, dlq, idle=2, timeout=5) == []

    _take_letters_again_and_expect_each_once(local_stack, dlq, bad)
    _assert_running_without_restarts(local_stack, restored.job_id)
