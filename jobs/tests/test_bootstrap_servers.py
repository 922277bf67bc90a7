"""Where the job finds Kafka: --bootstrap-servers wins over KAFKA_BOOTSTRAP_SERVERS (the rocket README's variable)."""

from __future__ import annotations

import pytest

from gridpipe_jobs.cli import run_bootstrap_servers
from gridpipe_jobs.job import bootstrap_servers, parse_args
from gridpipe_schemas.endpoints import InfluxSettings, S3Settings, ServiceEndpoints

pytestmark = pytest.mark.unit
ENV = {"KAFKA_BOOTSTRAP_SERVERS": "kafka-from-env:9092"}
REQUIRED = ["--pipeline", "examples/rocket.yaml", "--schema-registry-url", "http://registry"]


def test_the_option_wins_over_the_environment() -> None:
    assert bootstrap_servers("kafka-from-option:9092", ENV) == "kafka-from-option:9092"
    assert bootstrap_servers(None, ENV) == "kafka-from-env:9092"
    assert bootstrap_servers(None, {}) is None
    assert bootstrap_servers(None, {"KAFKA_BOOTSTRAP_SERVERS": ""}) is None


def test_the_job_entry_point_reads_the_environment_when_the_option_is_missing() -> None:
    assert parse_args(REQUIRED, ENV).bootstrap_servers == "kafka-from-env:9092"
    with_option = parse_args([*REQUIRED, "--bootstrap-servers", "kafka-from-option:9092"], ENV)
    assert with_option.bootstrap_servers == "kafka-from-option:9092"


def test_the_job_entry_point_without_either_says_what_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(REQUIRED, {})
    assert exited.value.code == 2
    assert "pass --bootstrap-servers HOST:PORT or set KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err


def test_gridctl_run_falls_back_to_the_resolved_endpoints() -> None:
    endpoints = ServiceEndpoints(
        kafka_bootstrap="127.0.0.1:18092",
        registry_url="http://127.0.0.1:18080/apis/ccompat/v7",
        flink_url="http://127.0.0.1:18081",
        prometheus_url="http://127.0.0.1:18090",
        influxdb=InfluxSettings("http://127.0.0.1:18086", "gridpipe", "token"),
        s3=S3Settings("http://127.0.0.1:18033", "key", "secret"),
    )
    assert run_bootstrap_servers("kafka-from-option:9092", endpoints, ENV) == "kafka-from-option:9092"
    assert run_bootstrap_servers(None, endpoints, ENV) == "kafka-from-env:9092"
    assert run_bootstrap_servers(None, endpoints, {}) == "127.0.0.1:18092"
