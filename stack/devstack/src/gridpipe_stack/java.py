"""Find the Java runtime the stack's JVM services use and check it is new enough."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gridpipe_stack.errors import StackError
from gridpipe_stack.versions import JAVA_MIN

_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')
_INSTALL_HINT = "install OpenJDK 17 or newer (apt-get install openjdk-17-jre-headless) or point JAVA_HOME at one"


@dataclass(frozen=True)
class Java:
    executable: Path
    major: int

    @property
    def home(self) -> Path:
        return self.executable.resolve().parent.parent


def _candidate() -> Path | None:
    for variable in ("GRIDPIPE_JAVA_HOME", "JAVA_HOME"):
        if home := os.environ.get(variable):
            return Path(home) / "bin" / "java"
    found = shutil.which("java")
    return Path(found) if found else None


def parse_major(version_output: str) -> int | None:
    """The major version from ``java -version`` output; 1.8 style numbers report their minor (8)."""
    match = _VERSION.search(version_output)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java(minimum: int = JAVA_MIN) -> Java:
    executable = _candidate()
    if executable is None or not executable.is_file():
        where = f" at {executable}" if executable else " on PATH or in JAVA_HOME"
        raise StackError(f"Java not found{where}; Kafka, Flink and Apicurio need Java {minimum}+", _INSTALL_HINT)
    try:
        completed = subprocess.run([str(executable), "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"could not run {executable} -version: {exc}", _INSTALL_HINT) from exc
    major = parse_major(completed.stderr + completed.stdout)
    if major is None:
        raise StackError(f"{executable} -version printed no version we understand", _INSTALL_HINT)
    if major < minimum:
        raise StackError(f"Java {major} at {executable} is too old; gridpipe needs Java {minimum}+", _INSTALL_HINT)
    return Java(executable, major)
