"""The rocket pipeline on the real stack: the PRD's rule table, its severities, and dead letters."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from gridpipe_generator.records import parse_label
from gridpipe_generator.run import Generator, GeneratorConfig, build_stream
from gridpipe_jobs.severity import rocket_severity
from gridpipe_jobs.sql.common import name_uuid_of
from gridpipe_schemas.catalog import example, json_validator
from gridpipe_schemas.pipeline import PRD_RULES
from gridpipe_schemas.subjects import PipelineKind
from gridpipe_stack.config import StackConfig
from jobtesting import consume, rocket_document, unique

pytestmark = pytest.mark.integration
NORMAL = {
    "rocketId": "Falcon-9-001",
    "timestamp": "2026-01-01T00:00:00.000Z",
    "missionTime": 10.0,
    "engineEfficiency": 92.0,
    "burnRate": 2450.0,
    "sensorNoise": 0.5,
    "guidanceError": 0.3,
    "fuelLeakRate": 1.0,
    "engineTemp": 3100.0,
    "thrust": 7600.0,
    "activeAnomalies": 0,
}
RULES: dict[str, Any] = {r.parameter: r for r in PRD_RULES}
# (name, changes, the rules expected to fire)
CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("normal", {}, set()),
    ("efficiency low end", {"engineEfficiency": 40.0}, {"engineEfficiency"}),
    ("efficiency just above the range", {"engineEfficiency": 80.01}, set()),
    ("efficiency under 60", {"engineEfficiency": 55.0}, {"engineEfficiency"}),
    ("burn rate", {"burnRate": 2600.0}, {"burnRate"}),
    ("sensor noise at its top", {"sensorNoise": 3.0}, {"sensorNoise"}),
    ("guidance high", {"guidanceError": 6.5}, {"guidanceError"}),
    ("guidance low", {"guidanceError": 2.0}, {"guidanceError"}),
    ("fuel leak critical", {"fuelLeakRate": 180.0}, {"fuelLeakRate"}),
    ("fuel leak moderate", {"fuelLeakRate": 60.0}, {"fuelLeakRate"}),
    ("engine temp exactly at 3400", {"engineTemp": 3400.0}, {"engineTemp"}),
    ("engine temp just below", {"engineTemp": 3399.99}, set()),
    ("engine temp over 3700", {"engineTemp": 3800.0}, {"engineTemp"}),
    ("engine shutdown", {"thrust": 0.0}, {"thrust"}),
    ("thrust barely on", {"thrust": 0.1}, set()),
    ("one active anomaly", {"activeAnomalies": 1}, {"activeAnomalies"}),
    ("two active anomalies", {"activeAnomalies": 2}, {"activeAnomalies"}),
    (
        "three concurrent",
        {"engineTemp": 3500.0, "sensorNoise": 2.0, "guidanceError": 3.0},
        {"engineTemp", "sensorNoise", "guidanceError"},
    ),
]


def _produce(stack: StackConfig, topic: str, values: list[bytes], keys: list[bytes]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True})
    for key, value in zip(keys, values, strict=True):
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def _alert_id(pipeline: str, alert: dict[str, Any]) -> str:
    """The id the job must give: the name-based UUID of the pipeline, rocket, timestamp, mission time and parameter."""
    telemetry = alert["originalTelemetry"]
    mission_time = str(float(telemetry["missionTime"]))  # as Flink's CAST(DOUBLE AS STRING) spells these values
    return name_uuid_of(
        pipeline, telemetry["rocketId"], telemetry["timestamp"], mission_time, alert["affectedParameter"]
    )


def test_each_rule_case_gives_exactly_its_alerts(local_stack: StackConfig, run_pipeline: Any) -> None:
    pipeline_name = unique("rocket-rules")
    running = run_pipeline(rocket_document(pipeline_name))
    messages = []
    for i, (_, changes, _) in enumerate(CASES):
        messages.append({**NORMAL, "missionTime": float(i), **changes})
    _produce(
        local_stack,
        running.pipeline.spec.source.topic,
        [json.dumps(m).encode() for m in messages],
        [m["rocketId"].encode() for m in messages],
    )
    expected_count = sum(len(fired) for _, _, fired in CASES)
    alerts = [
        json.loads(m.value())
        for m in consume(local_stack, running.pipeline.spec.outputs.anomalies_topic, expect=expected_count)
    ]
    validator = json_validator("AnomalyAlert")
    by_case: dict[float, dict[str, dict[str, Any]]] = {}
    for alert in alerts:
        assert not list(validator.iter_errors(alert)), alert
        assert list(alert) == list(example("AnomalyAlert")), "the shipped example has the keys the job emits"
        assert alert["alertId"] == _alert_id(pipeline_name, alert)
        by_case.setdefault(alert["missionTime"], {})[alert["affectedParameter"]] = alert
    for i, (name, _changes, fired) in enumerate(CASES):
        got = by_case.get(float(i), {})
        assert set(got) == fired, name
        for parameter, alert in got.items():
            rule = RULES[parameter]
            value = messages[i][parameter]
            assert alert["anomalyType"] == rule.anomaly_type, name
            assert alert["severity"] == rocket_severity(parameter, value, len(fired)), name
            assert alert["currentValue"] == value and alert["totalAnomalies"] == len(fired)
            assert alert["expectedRange"] == rule.expected_range
            assert alert["originalTelemetry"] == messages[i]
            assert alert["rocketId"] == "Falcon-9-001" and alert["timestamp"] == NORMAL["timestamp"]
    assert by_case[17.0]["engineTemp"]["severity"] == "critical"  # three at once
    assert len({a["alertId"] for a in alerts}) == len(alerts)


def test_the_shipped_example_is_what_the_job_emits(local_stack: StackConfig, run_pipeline: Any) -> None:
    """schemas/.../examples/AnomalyAlert.json is the rocket README's alert as the job emits it from its telemetry (the
    example's alertId is that of a pipeline named rocket-demo: test_sql_and_severity.py)."""
    name = unique("rocket-example")
    running = run_pipeline(rocket_document(name))
    shipped = example("AnomalyAlert")
    telemetry = shipped["originalTelemetry"]
    _produce(
        local_stack,
        running.pipeline.spec.source.topic,
        [json.dumps(telemetry).encode()],
        [telemetry["rocketId"].encode()],
    )
    (message,) = consume(local_stack, running.pipeline.spec.outputs.anomalies_topic, expect=1)
    emitted = json.loads(message.value())
    assert emitted["alertId"] == _alert_id(name, emitted)
    # Text, not dict equality: key order and 3750.0 against 3750 count.
    assert json.dumps(emitted) == json.dumps({**shipped, "alertId": emitted["alertId"]})


def test_generated_flights_alert_on_every_labelled_rule(local_stack: StackConfig, run_pipeline: Any) -> None:
    running = run_pipeline(rocket_document(unique("rocket-flight")))
    cfg = GeneratorConfig(
        PipelineKind.ROCKET,
        local_stack.kafka_bootstrap,
        local_stack.registry_url,
        running.pipeline.spec.source.topic,
        event_rate=0,
        count=3000,
        rockets=3,
        seed=4,
        anomaly_rate=0.05,
        malformed_rate=0.02,
        start_ms=1_767_225_600_000,
    )
    assert Generator(cfg, progress=lambda _: None).run().failed == 0
    records = list(itertools.islice(build_stream(cfg), cfg.count))
    wanted = {
        (json.loads(r.value)["rocketId"], json.loads(r.value)["missionTime"], kind)
        for r in records
        if r.label.startswith("anomaly:")
        for kind in parse_label(r.label)[1]
    }
    alerts = [
        json.loads(m.value())
        for m in consume(local_stack, running.pipeline.spec.outputs.anomalies_topic, expect=len(wanted))
    ]
    got = {(a["rocketId"], a["missionTime"], a["affectedParameter"]) for a in alerts}
    assert got == wanted
    critical_labels = {w for w in wanted if w[2] == "thrust"}
    assert critical_labels <= got, "no critical anomaly missed"

    malformed = [parse_label(r.label)[1][0] for r in records if r.label.startswith("malformed:")]
    letters = consume(local_stack, running.pipeline.spec.outputs.dead_letter_topic, expect=len(malformed))
    assert len(letters) == len(malformed)


def test_the_same_entry_point_runs_under_flinks_python_driver(local_stack: StackConfig) -> None:
    """`flink run -pym gridpipe_jobs.job`, as the Flink Kubernetes Operator runs it, against the session cluster; Kafka
    from KAFKA_BOOTSTRAP_SERVERS as the rocket README has it (the option is covered by test_bootstrap_servers.py)."""
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    import yaml

    from gridpipe_jobs import flinkrest
    from gridpipe_jobs.topics import ensure_topics
    from gridpipe_schemas.pipeline import parse_pipeline
    from gridpipe_stack.provision import flink_home

    document = rocket_document(unique("rocket-driver"))
    ensure_topics(parse_pipeline(document), local_stack.kafka_bootstrap)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(document, handle)
    env = {
        **os.environ,
        "FLINK_CONF_DIR": str(local_stack.conf_dir / "flink"),
        "KAFKA_BOOTSTRAP_SERVERS": local_stack.kafka_bootstrap,
    }
    done = subprocess.run(
        [
            "bash",
            str(flink_home() / "bin" / "flink"),
            "run",
            "-m",
            f"127.0.0.1:{local_stack.ports.flink_rest}",
            "-pym",
            "gridpipe_jobs.job",
            "--pipeline",
            handle.name,
            "--schema-registry-url",
            local_stack.registry_url,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    Path(handle.name).unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    job_id = next(line.split()[-1] for line in done.stdout.splitlines() if "submitted with JobID" in line)
    try:
        flinkrest.wait_for_state(local_stack.flink_url, job_id, "RUNNING", timeout=120)
        spec = document["spec"]
        _produce(local_stack, spec["source"]["topic"], [json.dumps({**NORMAL, "thrust": 0.0}).encode()], [b"F9"])
        (alert,) = [json.loads(m.value()) for m in consume(local_stack, spec["outputs"]["anomaliesTopic"], expect=1)]
        assert (alert["anomalyType"], alert["severity"]) == ("engine_shutdown", "critical")
    finally:
        flinkrest.cancel(local_stack.flink_url, job_id)
