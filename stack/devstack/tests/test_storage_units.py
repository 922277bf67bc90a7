"""Pure parts of the InfluxDB and SeaweedFS services: credentials files, command lines, scrape and Flink settings."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gridpipe_stack import credentials
from gridpipe_stack.config import Ports, StackConfig
from gridpipe_stack.errors import StackError
from gridpipe_stack.services import flink_settings, prometheus_config, seaweedfs_command

pytestmark = pytest.mark.unit


def test_credentials_are_generated_once_and_kept_owner_only(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path)
    first, again = credentials.influxdb(cfg), credentials.influxdb(cfg)
    assert first == again and len(first.token) >= 40 and first.org == "gridpipe"
    assert credentials.s3(cfg) == credentials.s3(cfg)
    assert credentials.influxdb(StackConfig(run_dir=tmp_path / "other")).token != first.token
    assert stat.S_IMODE(credentials.secrets_dir(cfg).stat().st_mode) == 0o700
    for path in credentials.secrets_dir(cfg).iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_credentials_never_show_their_secrets(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path)
    influx, s3 = credentials.influxdb(cfg), credentials.s3(cfg)
    assert influx.token not in repr(influx) and influx.token not in str(influx)
    assert s3.secret_key not in repr(s3) and s3.access_key in repr(s3)


def test_corrupt_secrets_file_is_a_clear_error(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path)
    credentials.write_private(credentials.secrets_dir(cfg) / "s3.json", "{not json")
    with pytest.raises(StackError, match=r"s3\.json is unreadable .*fix: delete"):
        credentials.s3(cfg)


def test_connection_settings_follow_the_port_base(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path, ports=Ports(21000))
    assert cfg.influxdb_url == "http://127.0.0.1:21086"
    assert cfg.s3_endpoint == "http://127.0.0.1:21033"
    assert credentials.influxdb(cfg).url == cfg.influxdb_url and credentials.s3(cfg).endpoint == cfg.s3_endpoint


def test_every_port_of_a_stack_is_distinct() -> None:
    p = Ports(21000)
    ports = [
        p.kafka,
        p.kafka_controller,
        p.kafka_metrics,
        p.apicurio,
        p.flink_rest,
        p.flink_rpc,
        *p.flink_metrics,
        p.prometheus,
        p.alertmanager,
        p.influxdb,
        p.s3,
        *p.seaweedfs.values(),
        p.etcd_client,
        p.etcd_peer,
        p.kube_apiserver,
    ]
    assert len(ports) == len(set(ports))


def test_weed_gets_every_port_explicitly_and_loopback_only(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path, ports=Ports(21000))
    command = seaweedfs_command(cfg, Path("/cache/weed"))
    flags = dict(arg.lstrip("-").split("=", 1) for arg in command[2:])
    assert flags["ip"] == flags["ip.bind"] == flags["metricsIp"] == "127.0.0.1"
    assert flags["master.telemetry"] == flags["webdav"] == flags["admin.ui"] == "false"
    assert flags["s3.port"] == "21033"
    explicit = {int(v) for k, v in flags.items() if k.endswith(("port", "port.grpc", "Port"))}
    assert explicit == {21033, *cfg.ports.seaweedfs.values()}
    # Sized by the disk, not a fixed volume count: 32 x 64 MB once capped the whole store at 2 GB.
    assert flags["volume.max"] == "0" and int(flags["master.volumeSizeLimitMB"]) >= 256
    identities = json.loads(Path(flags["s3.config"]).read_text())
    assert identities["identities"][0]["credentials"] == [
        {"accessKey": credentials.s3(cfg).access_key, "secretKey": credentials.s3(cfg).secret_key}
    ]


def test_flink_writes_s3_paths_to_the_stack_storage(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path)
    settings = flink_settings(cfg)
    s3 = credentials.s3(cfg)
    assert settings["s3.endpoint"] == cfg.s3_endpoint
    assert settings["s3.path.style.access"] is True
    assert (settings["s3.access-key"], settings["s3.secret-key"]) == (s3.access_key, s3.secret_key)


def test_prometheus_scrapes_influxdb_and_seaweedfs(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path, ports=Ports(21000))
    jobs = {job["job_name"]: job for job in prometheus_config(cfg)["scrape_configs"]}  # type: ignore[attr-defined]
    assert jobs["influxdb"]["static_configs"] == [{"targets": ["127.0.0.1:21086"]}]
    assert jobs["seaweedfs"]["static_configs"] == [{"targets": [f"127.0.0.1:{cfg.ports.seaweedfs['metrics']}"]}]


def test_job_environment_carries_the_influxdb_contract(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path)
    env = credentials.job_environment(cfg)
    assert env == {
        "GRIDPIPE_INFLUXDB_URL": cfg.influxdb_url,
        "GRIDPIPE_INFLUXDB_ORG": "gridpipe",
        "GRIDPIPE_INFLUXDB_TOKEN": credentials.influxdb(cfg).token,
    }


def test_session_taskmanager_survives_many_jobs_and_reports_fresh_metrics(tmp_path: Path) -> None:
    settings = flink_settings(StackConfig(run_dir=tmp_path))
    assert settings["taskmanager.memory.jvm-metaspace.size"] == "768m", "job after job loads classes anew"
    assert int(settings["metrics.fetcher.update-interval"]) <= 1000  # type: ignore[call-overload]
    assert "disablePutObjectMD5Validation=true" in str(settings["env.java.opts.taskmanager"])
    assert settings["s3.directory.marker.retention"] == "keep", "commits must not delete parent markers"


def test_down_with_delete_data_leaves_an_empty_stack(tmp_path: Path) -> None:
    from gridpipe_stack import stack

    cfg = StackConfig(run_dir=tmp_path)
    (cfg.data_dir / "kafka").mkdir(parents=True)
    (cfg.data_dir / "kafka" / "segment.log").write_text("old events")
    credentials.s3(cfg)
    stack.down(cfg, echo=lambda _: None, delete_data=True)
    assert not cfg.data_dir.exists()
    assert credentials.secrets_dir(cfg).exists(), "credentials stay: the next stack up reuses them"
