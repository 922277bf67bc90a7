"""Each way the stack can fail to start ends in a one-line cause-and-fix error, never a hang."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridpipe_stack import stack
from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.errors import StackError
from gridpipe_stack.fetch import PinnedFile, ensure_files, sha256_of
from gridpipe_stack.maven import load_lock
from gridpipe_stack.supervise import log_tail, marked_processes
from gridpipe_stack.testing import stack_config

pytestmark = pytest.mark.integration
GRIDCTL = [sys.executable, "-m", "gridpipe_cli"]


def _gridctl(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRIDCTL, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **env})


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_port_already_taken_is_named_with_its_service(tmp_path: Path) -> None:
    cfg = stack_config("ports", tmp_path, 29100)
    with socket.socket() as squatter:
        squatter.bind((HOST, cfg.ports.apicurio))
        squatter.listen()
        began = time.monotonic()
        done = _gridctl(
            "stack",
            "up",
            env={"GRIDPIPE_PORT_BASE": "29100", "GRIDPIPE_RUN_DIR": str(tmp_path), "GRIDPIPE_STACK": "ports"},
        )
    assert done.returncode == 2
    line = _error_line(done.stderr)
    assert f"port {cfg.ports.apicurio} on 127.0.0.1 (apicurio http) is already in use" in line
    assert "fix: " in line and "GRIDPIPE_PORT_BASE" in line
    assert time.monotonic() - began < 30
    assert not list(marked_processes(str(tmp_path)))


def test_missing_java_is_reported(tmp_path: Path) -> None:
    done = _gridctl(
        "stack",
        "up",
        env={
            "GRIDPIPE_JAVA_HOME": str(tmp_path / "no-jdk"),
            "GRIDPIPE_RUN_DIR": str(tmp_path),
            "GRIDPIPE_PORT_BASE": "29150",
        },
    )
    assert done.returncode == 2
    line = _error_line(done.stderr)
    assert "Java not found at" in line and "need Java 17+" in line and "fix: install OpenJDK 17" in line


def test_too_old_java_is_reported(tmp_path: Path) -> None:
    # A stand-in `java` that reports itself as Java 11, as an old JDK on a user's PATH would.
    fake_home = tmp_path / "jdk11"
    (fake_home / "bin").mkdir(parents=True)
    java = fake_home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(0o755)
    done = _gridctl(
        "stack",
        "up",
        env={
            "GRIDPIPE_JAVA_HOME": str(fake_home),
            "GRIDPIPE_RUN_DIR": str(tmp_path),
            "GRIDPIPE_PORT_BASE": "29150",
        },
    )
    assert done.returncode == 2
    assert "Java 11 at" in _error_line(done.stderr) and "is too old; gridpipe needs Java 17+" in done.stderr


def _smallest_locked_file(cache: Path) -> PinnedFile:
    smallest = min((f for files in load_lock().values() for f in files), key=lambda f: f.size)
    return PinnedFile(smallest.url, smallest.sha256, smallest.size, cache / smallest.path)


def test_truncated_or_corrupted_cached_download_is_fetched_again(tmp_path: Path) -> None:
    pinned = _smallest_locked_file(tmp_path)
    assert ensure_files([pinned], label="test") == 1
    assert ensure_files([pinned], label="test") == 0, "a verified file is not fetched twice"

    with pinned.target.open("r+b") as fh:
        fh.truncate(pinned.size // 2)
    assert ensure_files([pinned], label="test") == 1
    assert sha256_of(pinned.target) == pinned.sha256

    data = bytearray(pinned.target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pinned.target.write_bytes(bytes(data))
    assert ensure_files([pinned], label="test") == 1
    assert sha256_of(pinned.target) == pinned.sha256


def test_download_that_never_matches_its_pin_fails_clearly(tmp_path: Path) -> None:
    real = _smallest_locked_file(tmp_path)
    wrong = PinnedFile(real.url, "0" * 64, real.size, real.target)
    with pytest.raises(StackError) as caught:
        ensure_files([wrong], label="test")
    assert "SHA-256 mismatch" in str(caught.value) and "fix:" in str(caught.value)
    assert not wrong.target.exists(), "a file that failed verification is never left in the cache"


def test_service_not_ready_in_time_shows_its_log_tail_and_down_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg: StackConfig = stack_config("slow", tmp_path, 29200)
    monkeypatch.setenv("GRIDPIPE_READY_TIMEOUT_SCALE", "0.001")
    try:
        with pytest.raises(StackError) as caught:
            stack.up(cfg, echo=lambda _: None)
        error = caught.value
        assert "kafka did not become ready within 0.09s" in str(error)
        assert "fix: read its log" in str(error)
        assert error.detail == log_tail(cfg.logs_dir / "kafka.log") or error.detail.startswith("(no log")
    finally:
        report = stack.down(cfg, echo=lambda _: None)
    assert "kafka" in report.stopped
    assert not list(marked_processes(str(cfg.run_dir)))
