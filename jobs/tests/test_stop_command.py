"""`gridctl stop` names the problem when there is no Flink cluster to ask."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _free_port_base() -> int:
    with socket.socket() as probe:  # the Flink REST port is base + 81: find a base whose port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1]) - 81


def test_stop_without_a_flink_cluster_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "GRIDPIPE_PORT_BASE": str(_free_port_base()), "GRIDPIPE_RUN_DIR": str(tmp_path / "stack")}
    done = subprocess.run(
        [sys.executable, "-m", "gridpipe_cli", "stop", "grid-demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Flink cluster at http://127.0.0.1:" in lines[0] and "is unreachable" in lines[0]
    assert "gridctl stack up" in lines[0]
