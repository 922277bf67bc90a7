"""Where a stack keeps its files and which loopback ports it uses.

Two stacks never collide when they differ in name (run directory) and port base: the dev stack uses the
defaults, the test suite its own (see ``tests/conftest.py``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gridpipe_schemas.paths import default_cache_dir

HOST = "127.0.0.1"
DEFAULT_PORT_BASE = 18000


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "gridpipe"


@dataclass(frozen=True)
class Ports:
    """Every port a stack listens on, as fixed offsets from one base so a whole stack moves together."""

    base: int = DEFAULT_PORT_BASE

    @property
    def kafka(self) -> int:
        return self.base + 92

    @property
    def kafka_controller(self) -> int:
        return self.base + 93

    @property
    def kafka_metrics(self) -> int:
        return self.base + 94

    @property
    def apicurio(self) -> int:
        return self.base + 80

    @property
    def flink_rest(self) -> int:
        return self.base + 81

    @property
    def flink_rpc(self) -> int:
        return self.base + 23

    @property
    def flink_metrics(self) -> tuple[int, int]:
        """The Prometheus reporter's range: the JobManager takes the first free port, the TaskManager the next."""
        return (self.base + 49, self.base + 50)

    @property
    def prometheus(self) -> int:
        return self.base + 90

    @property
    def alertmanager(self) -> int:
        return self.base + 91

    @property
    def console(self) -> int:
        return self.base + 88

    @property
    def archive_exporter(self) -> int:
        return self.base + 89

    @property
    def influxdb(self) -> int:
        return self.base + 86

    @property
    def s3(self) -> int:
        return self.base + 33

    @property
    def seaweedfs_internal(self) -> tuple[int, ...]:
        """SeaweedFS's own master, volume, filer, admin ports and their gRPC twins: all explicit, all loopback."""
        return tuple(self.base + offset for offset in range(60, 70))

    @property
    def seaweedfs(self) -> dict[str, int]:
        """The internal ports by role (``weed mini`` opens fixed, well-known ports for any role left implicit)."""
        roles = (
            "master",
            "master.grpc",
            "volume",
            "volume.grpc",
            "filer",
            "filer.grpc",
            "s3.grpc",
            "admin",
            "admin.grpc",
            "metrics",
        )
        return dict(zip(roles, self.seaweedfs_internal, strict=True))

    @property
    def etcd_client(self) -> int:
        return self.base + 79

    @property
    def etcd_peer(self) -> int:
        return self.base + 78

    @property
    def kube_apiserver(self) -> int:
        return self.base + 43

    @property
    def kube_controller_manager(self) -> int:
        return self.base + 44


@dataclass(frozen=True)
class StackConfig:
    name: str = "dev"
    ports: Ports = field(default_factory=Ports)
    cache_dir: Path = field(default_factory=default_cache_dir)
    run_dir: Path = field(default_factory=lambda: default_state_dir() / "dev")
    python: Path = field(default_factory=lambda: Path(sys.executable))

    @classmethod
    def from_env(cls, name: str | None = None) -> StackConfig:
        """The stack described by GRIDPIPE_STACK, GRIDPIPE_PORT_BASE, GRIDPIPE_RUN_DIR and GRIDPIPE_CACHE."""
        name = name or os.environ.get("GRIDPIPE_STACK", "dev")
        base = int(os.environ.get("GRIDPIPE_PORT_BASE", DEFAULT_PORT_BASE))
        run_dir = Path(os.environ.get("GRIDPIPE_RUN_DIR") or default_state_dir() / name)
        return cls(name=name, ports=Ports(base), cache_dir=default_cache_dir(), run_dir=run_dir)

    def environment(self) -> dict[str, str]:
        """The variables from which ``from_env`` finds this stack again, for processes that must reach it."""
        return {
            "GRIDPIPE_STACK": self.name,
            "GRIDPIPE_PORT_BASE": str(self.ports.base),
            "GRIDPIPE_RUN_DIR": str(self.run_dir),
            "GRIDPIPE_CACHE": str(self.cache_dir),
        }

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def conf_dir(self) -> Path:
        return self.run_dir / "conf"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{HOST}:{self.ports.kafka}"

    @property
    def registry_url(self) -> str:
        """The Confluent-compatible API of Apicurio, which confluent-kafka and Flink's avro-confluent speak."""
        return f"http://{HOST}:{self.ports.apicurio}/apis/ccompat/v7"

    @property
    def apicurio_url(self) -> str:
        return f"http://{HOST}:{self.ports.apicurio}"

    @property
    def flink_url(self) -> str:
        return f"http://{HOST}:{self.ports.flink_rest}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.ports.prometheus}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{HOST}:{self.ports.alertmanager}"

    @property
    def influxdb_url(self) -> str:
        return f"http://{HOST}:{self.ports.influxdb}"

    @property
    def s3_endpoint(self) -> str:
        """SeaweedFS's S3 API; clients use path-style addressing (``http://host:port/bucket/key``)."""
        return f"http://{HOST}:{self.ports.s3}"
