"""Pure logic of the stack: no services, no network."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridpipe_stack.config import Ports, StackConfig
from gridpipe_stack.errors import StackError
from gridpipe_stack.fetch import PinnedFile, is_verified, sha256_of
from gridpipe_stack.java import Java, parse_major
from gridpipe_stack.maven import Coordinate, load_lock
from gridpipe_stack.provision import Installation
from gridpipe_stack.services import RULES, flink_settings, plan_services, prometheus_config
from gridpipe_stack.supervise import render_supervisor_conf
from gridpipe_stack.versions import COMPONENTS

pytestmark = pytest.mark.unit


def test_coordinate_forms_round_trip() -> None:
    plain = Coordinate.parse("org.apache.kafka:kafka_2.13:4.2.2")
    assert plain.repo_path == "org/apache/kafka/kafka_2.13/4.2.2/kafka_2.13-4.2.2.jar"
    archive = Coordinate.parse("io.apicurio:apicurio-registry-app:tar.gz:all:3.0.9")
    assert archive.file_name == "apicurio-registry-app-3.0.9-all.tar.gz"
    assert Coordinate.parse(str(archive)) == archive
    with pytest.raises(ValueError, match="not a Maven coordinate"):
        Coordinate.parse("just-a-name")


def test_lock_pins_every_component_by_sha256() -> None:
    lock = load_lock()
    assert set(lock) == {c.name for c in COMPONENTS}
    assert {"kafka", "apicurio", "flink-lib", "flink-operator-api", "strimzi-crd-generator"} <= set(lock)
    for files in lock.values():
        assert files
        for f in files:
            assert len(f.sha256) == 64 and f.size > 0 and f.url.startswith("https://")


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_402"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("no version here", None),
    ],
)
def test_java_major_version_is_parsed(output: str, major: int | None) -> None:
    assert parse_major(output) == major


def test_ports_of_two_bases_never_overlap() -> None:
    def all_ports(p: Ports) -> set[int]:
        return {
            p.kafka,
            p.kafka_controller,
            p.kafka_metrics,
            p.apicurio,
            p.flink_rest,
            p.flink_rpc,
            p.prometheus,
            p.alertmanager,
            *p.flink_metrics,
        }

    dev, test = all_ports(Ports(18000)), all_ports(Ports(28000))
    assert len(dev) == 10 and not dev & test


def test_everything_binds_loopback(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path)
    settings = flink_settings(cfg)
    for key in (
        "jobmanager.bind-host",
        "taskmanager.bind-host",
        "rest.bind-address",
        "metrics.reporter.prom.host",
    ):
        assert settings[key] == "127.0.0.1"
    scrape_configs: Any = prometheus_config(cfg)["scrape_configs"]
    targets = [t for job in scrape_configs for c in job["static_configs"] for t in c["targets"]]
    assert targets and all(t.startswith("127.0.0.1:") for t in targets)


def test_supervisor_config_escapes_percent_and_marks_processes(tmp_path: Path) -> None:
    from gridpipe_stack.probes import http_ok
    from gridpipe_stack.services import Service

    cfg = StackConfig(run_dir=tmp_path)
    svc = Service("echo", ["echo", "100%"], {}, http_ok("http://127.0.0.1:1"), 1.0, env={"A": "x%y"})
    text = render_supervisor_conf(cfg, [svc])
    assert "command=echo 100%%" in text
    assert 'A="x%%y"' in text
    assert f'GRIDPIPE_STACK_MARK="{tmp_path}"' in text
    assert "stopasgroup=true" in text and "killasgroup=true" in text


def test_cached_file_is_rehashed_when_it_changes(tmp_path: Path) -> None:
    target = tmp_path / "artifact.jar"
    target.write_bytes(b"x" * 1000)
    pinned = PinnedFile("https://unused.invalid/a.jar", sha256_of(target), 1000, target)
    assert is_verified(pinned)
    stamp = json.loads(target.with_name("artifact.jar.verified").read_text())
    assert stamp["sha256"] == pinned.sha256
    target.write_bytes(b"y" * 1000)  # same size, other bytes: the stamp no longer matches, so it is re-hashed
    assert not is_verified(pinned)
    target.write_bytes(b"x" * 999)
    assert not is_verified(pinned)


def test_stack_error_is_one_line_with_a_fix() -> None:
    error = StackError("port 1 is taken", "free it")
    assert str(error) == "port 1 is taken -- fix: free it"
    assert "\n" not in str(error)


def test_prometheus_loads_the_repository_rules_and_alerts_the_local_alertmanager(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path, ports=Ports(21000))
    config: Any = prometheus_config(cfg)
    (pattern,) = config["rule_files"]
    assert {p.name for p in Path(pattern).parent.glob(Path(pattern).name)} >= {"recording.yml", "alerts.yml"}
    assert Path(pattern).parent == RULES
    assert config["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:21091"]}]}]
    assert config["global"]["evaluation_interval"] == config["global"]["scrape_interval"] == "5s"


def _fake_installation(tmp_path: Path) -> Installation:
    """Paths only: planning writes configuration, it starts nothing. Flink's configuration files are read."""
    flink_home = tmp_path / "flink"
    (flink_home / "conf").mkdir(parents=True)
    for name in ("config.yaml", "log4j-console.properties", "log4j-cli.properties", "log4j.properties"):
        (flink_home / "conf" / name).write_text("")
    (flink_home / "conf" / "logback-console.xml").write_text("")
    nowhere = Path("/nonexistent")
    return Installation(
        kafka_classpath=(),
        jmx_agent=nowhere,
        apicurio_jar=nowhere,
        flink_home=flink_home,
        prometheus=nowhere / "prometheus",
        alertmanager=nowhere / "prometheus-alertmanager",
        influxd=nowhere,
        weed=nowhere,
    )


def test_alertmanager_follows_prometheus_on_loopback_without_clustering(tmp_path: Path) -> None:
    cfg = StackConfig(run_dir=tmp_path / "run", ports=Ports(21000))
    services = plan_services(cfg, _fake_installation(tmp_path), Java(Path("/nonexistent/java"), 17))
    names = [s.name for s in services]
    assert names.index("alertmanager") == names.index("prometheus") + 1
    alertmanager = services[names.index("alertmanager")]
    flags = dict(arg.lstrip("-").split("=", 1) for arg in alertmanager.command[1:])
    assert flags["web.listen-address"] == "127.0.0.1:21091" and alertmanager.url == "http://127.0.0.1:21091"
    assert flags["cluster.listen-address"] == ""
    assert flags["storage.path"] == str(cfg.data_dir / "alertmanager")
    rendered = yaml.safe_load(Path(flags["config.file"]).read_text())
    assert rendered["route"]["receiver"] == "default" and rendered["receivers"] == [{"name": "default"}]
