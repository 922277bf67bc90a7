"""The stack's InfluxDB 2 and SeaweedFS S3, for real: credentials, writes and reads, metrics, Flink to S3, restarts."""

from __future__ import annotations

import dataclasses
import stat
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import Config
from botocore.exceptions import ClientError
from influxdb_client import InfluxDBClient, Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from gridpipe_jobs import flinkrest
from gridpipe_stack import credentials, flinksql
from gridpipe_stack.config import StackConfig
from gridpipe_stack.errors import StackError
from gridpipe_stack.stack import start_service, stop_service
from gridpipe_stack.supervise import Supervisor

pytestmark = pytest.mark.integration


def _s3_client(cfg: StackConfig, secret_key: str | None = None) -> Any:
    s3 = credentials.s3(cfg)
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=secret_key or s3.secret_key,
        region_name=s3.region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


@pytest.fixture
def influx(local_stack: StackConfig) -> Iterator[InfluxDBClient]:
    creds = credentials.influxdb(local_stack)
    with InfluxDBClient(url=creds.url, token=creds.token, org=creds.org, timeout=30_000) as client:
        yield client


def _write_reading(client: InfluxDBClient, sensor: str, value: float) -> None:
    point = Point("it_reading").tag("sensor", sensor).field("value", value)
    client.write_api(write_options=SYNCHRONOUS).write(bucket=credentials.INFLUXDB_BUCKET, record=point)


def _read_values(client: InfluxDBClient, sensor: str) -> list[float]:
    flux = (
        f'from(bucket: "{credentials.INFLUXDB_BUCKET}") |> range(start: -1h) '
        f'|> filter(fn: (r) => r._measurement == "it_reading" and r.sensor == "{sensor}")'
    )
    return [float(record.get_value()) for table in client.query_api().query(flux) for record in table.records]


def _eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not true within {timeout:.0f}s")
        time.sleep(0.5)


def test_influxdb_is_set_up_and_answers_flux(influx: InfluxDBClient) -> None:
    sensor = f"s-{uuid.uuid4().hex[:8]}"
    _write_reading(influx, sensor, 231.5)
    assert _read_values(influx, sensor) == [231.5]
    buckets = influx.buckets_api().find_bucket_by_name(credentials.INFLUXDB_BUCKET)
    assert buckets is not None
    assert [rule.every_seconds for rule in buckets.retention_rules] == [credentials.INFLUXDB_BUCKET_RETENTION_SECONDS]


def test_influxdb_refuses_a_wrong_token(local_stack: StackConfig) -> None:
    with InfluxDBClient(url=local_stack.influxdb_url, token="not-the-token", org=credentials.INFLUXDB_ORG) as client:
        with pytest.raises(ApiException) as refused:
            client.query_api().query(f'from(bucket: "{credentials.INFLUXDB_BUCKET}") |> range(start: -1m)')
        assert refused.value.status == 401


def test_setup_is_idempotent(local_stack: StackConfig) -> None:
    from gridpipe_stack.storage_setup import ensure_influxdb_setup, ensure_s3_buckets

    ensure_influxdb_setup(local_stack)  # a second `up` finds InfluxDB set up with the same token and leaves it
    ensure_s3_buckets(local_stack)
    assert httpx.get(f"{local_stack.influxdb_url}/api/v2/setup", timeout=10).json()["allowed"] is False


def test_influxdb_set_up_with_another_token_is_a_clear_error(local_stack: StackConfig, tmp_path: Path) -> None:
    from gridpipe_stack.storage_setup import ensure_influxdb_setup

    stranger = dataclasses.replace(local_stack, run_dir=tmp_path)  # same InfluxDB, freshly generated secrets
    with pytest.raises(StackError, match="was set up with another token than the one in") as caught:
        ensure_influxdb_setup(stranger)
    assert credentials.influxdb(stranger).token not in str(caught.value)


def test_s3_path_style_round_trip(local_stack: StackConfig) -> None:
    s3 = _s3_client(local_stack)
    bucket = f"it-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello seaweed")
    assert s3.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"hello seaweed"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/b.txt"]
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {bucket, *credentials.S3_BUCKETS} <= names


def test_s3_refuses_a_wrong_secret(local_stack: StackConfig) -> None:
    with pytest.raises(ClientError) as refused:
        _s3_client(local_stack, secret_key="wrong-secret").list_buckets()
    assert refused.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId"}


def test_secrets_are_private_and_never_logged(local_stack: StackConfig, influx: InfluxDBClient) -> None:
    _write_reading(influx, "log-check", 1.0)  # the token has been used at least once
    secret_files = sorted(credentials.secrets_dir(local_stack).iterdir())
    assert {f.name for f in secret_files} >= {"influxdb.json", "s3.json", "seaweedfs-s3.json"}
    assert stat.S_IMODE(credentials.secrets_dir(local_stack).stat().st_mode) == 0o700
    for path in [*secret_files, local_stack.conf_dir / "flink" / "config.yaml"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    influx_secrets = credentials.influxdb_secrets(local_stack)
    forbidden = [influx_secrets["token"], influx_secrets["password"], credentials.s3(local_stack).secret_key]
    logs = [p for p in local_stack.logs_dir.rglob("*") if p.is_file()]
    assert len(logs) >= 7
    for log in logs:
        text = log.read_text(errors="replace")
        assert not [s for s in forbidden if s in text], f"a secret appears in {log}"


def test_seaweedfs_and_influxdb_listen_on_loopback_only(local_stack: StackConfig) -> None:
    supervisor = Supervisor(local_stack)
    listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=10, check=True).stdout
    for name in ("seaweedfs", "influxdb"):
        pid = supervisor.process(name).pid
        addresses = [line.split()[3] for line in listening.splitlines() if f"pid={pid}," in line]
        assert addresses, f"{name} listens nowhere?"
        assert all(a.startswith("127.0.0.1:") for a in addresses), (name, addresses)
    ports = {int(a.rsplit(":", 1)[1]) for a in addresses}
    assert ports <= {local_stack.ports.s3, *local_stack.ports.seaweedfs.values(), local_stack.ports.influxdb}


def test_prometheus_scrapes_influxdb_and_seaweedfs(local_stack: StackConfig) -> None:
    def targets_up() -> dict[str, str]:
        response = httpx.get(f"{local_stack.prometheus_url}/api/v1/targets", timeout=10)
        return {t["labels"]["job"]: t["health"] for t in response.json()["data"]["activeTargets"]}

    _eventually(lambda: {"influxdb", "seaweedfs"} <= {j for j, h in targets_up().items() if h == "up"}, 60, "up")
    query = httpx.get(
        f"{local_stack.prometheus_url}/api/v1/query", params={"query": "count({job=~'influxdb|seaweedfs'})"}, timeout=10
    ).json()
    assert int(query["data"]["result"][0]["value"][1]) > 50


def test_flink_sql_job_writes_csv_to_s3(local_stack: StackConfig) -> None:
    bucket, prefix = credentials.S3_BUCKETS[0], f"it-flink-{uuid.uuid4().hex[:8]}"
    job_id = flinksql.submit_sql(
        local_stack,
        [
            "CREATE TEMPORARY TABLE numbers (n BIGINT) WITH ("
            "'connector' = 'datagen', 'number-of-rows' = '500', 'fields.n.kind' = 'sequence', "
            "'fields.n.start' = '1', 'fields.n.end' = '500')",
            "CREATE TEMPORARY TABLE archive (n BIGINT) WITH ("
            f"'connector' = 'filesystem', 'path' = 's3://{bucket}/{prefix}/', 'format' = 'csv')",
        ],
        "INSERT INTO archive SELECT n FROM numbers",
        "it-flink-to-s3",
    )
    flinkrest.wait_for_state(local_stack.flink_url, job_id, "FINISHED", timeout=120)
    s3 = _s3_client(local_stack)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])]
    assert keys, f"the job wrote nothing under s3://{bucket}/{prefix}/"
    rows = [
        int(line)
        for key in keys
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        if line.strip()
    ]
    assert sorted(rows) == list(range(1, 501))


def test_influxdb_and_seaweedfs_stop_and_start_keeping_their_data(
    local_stack: StackConfig, influx: InfluxDBClient
) -> None:
    sensor = f"restart-{uuid.uuid4().hex[:8]}"
    _write_reading(influx, sensor, 7.0)
    s3 = _s3_client(local_stack)
    bucket = credentials.S3_BUCKETS[0]
    s3.put_object(Bucket=bucket, Key=f"{sensor}.txt", Body=b"kept")

    for name, health in (
        ("influxdb", f"{local_stack.influxdb_url}/health"),
        ("seaweedfs", f"{local_stack.s3_endpoint}/healthz"),
    ):
        stop_service(local_stack, name)
        assert Supervisor(local_stack).process(name).state == "STOPPED"
        with pytest.raises(httpx.HTTPError):
            httpx.get(health, timeout=2)
        start_service(local_stack, name)
        assert httpx.get(health, timeout=5).status_code == 200

    assert _read_values(influx, sensor) == [7.0]
    assert _s3_client(local_stack).get_object(Bucket=bucket, Key=f"{sensor}.txt")["Body"].read() == b"kept"
