"""Provision every real component into the per-user cache: idempotent, verified, with progress.

Maven artifacts come from the pinned lock; PyFlink comes from the uv lock (it is a Python dependency) and gets
the connector, format and filesystem jars linked in where it looks for them; Prometheus and Alertmanager come from
Debian; InfluxDB and SeaweedFS are built from the Go module proxy once (gobuild.py) and cached.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gridpipe_stack.errors import StackError
from gridpipe_stack.fetch import PinnedFile, ensure_files
from gridpipe_stack.gobuild import ensure_binary
from gridpipe_stack.java import Java
from gridpipe_stack.maven import LockedFile, load_lock
from gridpipe_stack.reporter import build_reporter
from gridpipe_stack.versions import APICURIO

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Installation:
    """Where provisioning put each component; what services are started from."""

    kafka_classpath: tuple[Path, ...]
    jmx_agent: Path
    apicurio_jar: Path
    flink_home: Path
    prometheus: Path
    alertmanager: Path
    influxd: Path
    weed: Path


def _pinned(cache_dir: Path, files: list[LockedFile]) -> list[PinnedFile]:
    return [PinnedFile(f.url, f.sha256, f.size, cache_dir / "maven" / f.path) for f in files]


def flink_home() -> Path:
    spec = importlib.util.find_spec("pyflink")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("PyFlink (apache-flink) is not installed in this environment", "run `uv sync`")
    return Path(next(iter(spec.submodule_search_locations)))


def _extract_once(archive: PinnedFile, into: Path) -> Path:
    """Unpack ``archive`` into ``into`` unless a completed unpack of the same bytes is already there."""
    marker = into / ".gridpipe-extracted"
    if marker.is_file() and marker.read_text().strip() == archive.sha256:
        return into
    staging = into.with_name(into.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive.target) as tar:
        tar.extractall(staging, filter="data")
    (staging / ".gridpipe-extracted").write_text(archive.sha256)
    shutil.rmtree(into, ignore_errors=True)
    staging.rename(into)
    return into


def _link_into(directory: Path, files: list[Path], owned_by: Path) -> None:
    """Symlink ``files`` into ``directory``, and drop links of ours (pointing under ``owned_by``) that are stale."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {f.name: f for f in files}
    for entry in directory.iterdir():
        if entry.is_symlink() and str(entry.readlink()).startswith(str(owned_by)) and entry.name not in wanted:
            entry.unlink()
    for name, source in wanted.items():
        link = directory / name
        if link.is_symlink() and link.readlink() == source:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(source)


def install_flink_extras(home: Path, lib_jars: list[Path], s3_plugin: list[Path], cache_dir: Path) -> None:
    _link_into(home / "lib", lib_jars, cache_dir)
    _link_into(home / "plugins" / "s3-fs-hadoop", s3_plugin, cache_dir)
    # A standalone session cluster runs Python jobs only with flink-python on its classpath.
    python_jar = next((home / "opt").glob("flink-python-*.jar"), None)
    if python_jar is None:
        raise StackError(
            f"no flink-python jar in {home / 'opt'}",
            "reinstall PyFlink: `uv sync --reinstall-package apache-flink`",
        )
    target = home / "lib" / python_jar.name
    if not target.exists():
        target.symlink_to(python_jar)


def ensure_debian_package(package: str, binary: str, echo: Echo, why: str) -> Path:
    """``binary`` from PATH, installing Debian's ``package`` first when missing (as root, with apt-get)."""
    found = shutil.which(binary)
    if found:
        return Path(found)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError(
            f"{binary} is not installed ({why})", f"install Debian's package: sudo apt-get install {package}"
        )
    echo(f"installing {package} from Debian's packages (apt-get install {package}) for {why}…")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = " ".join(done.stderr.strip().splitlines()[-2:])
            raise StackError(f"`{' '.join(command)}` failed: {tail}", f"install it by hand: apt-get install {package}")
    found = shutil.which(binary)
    if not found:
        raise StackError(f"apt-get installed {package} but {binary} is not on PATH", f"check /usr/bin/{binary}")
    return Path(found)


def ensure_prometheus(echo: Echo) -> Path:
    return ensure_debian_package("prometheus", "prometheus", echo, "the stack's metrics")


def ensure_alertmanager(echo: Echo) -> Path:
    return ensure_debian_package("prometheus-alertmanager", "prometheus-alertmanager", echo, "the stack's alerts")


def ensure_chromium(echo: Echo) -> Path:
    """The browser the console's tests and latency benchmark drive (Playwright's own download is not reachable)."""
    return ensure_debian_package("chromium", "chromium", echo, "the console's browser tests")


def provision(cache_dir: Path, java: Java, echo: Echo = print, *, rehash: bool = False) -> Installation:
    lock = load_lock()
    pinned = {name: _pinned(cache_dir, files) for name, files in lock.items()}
    everything = [f for files in pinned.values() for f in files]
    fetched = ensure_files(everything, label="downloading pinned artifacts", rehash=rehash)
    if fetched:
        echo(f"fetched and verified {fetched} file(s) into {cache_dir / 'maven'}")

    (apicurio_archive,) = pinned["apicurio"]
    apicurio_dir = _extract_once(apicurio_archive, cache_dir / f"apicurio-registry-{APICURIO}")
    apicurio_jar = apicurio_dir / f"apicurio-registry-app-{APICURIO}-runner.jar"
    if not apicurio_jar.is_file():
        raise StackError(f"{apicurio_jar} missing after unpacking", f"delete {apicurio_dir} and run again")

    home = flink_home()
    install_flink_extras(
        home,
        [f.target for f in pinned["flink-lib"]],
        [f.target for f in pinned["flink-s3-plugin"]],
        cache_dir,
    )
    build_reporter(java, home, cache_dir)
    (jmx_agent,) = pinned["jmx-exporter"]
    ensure_chromium(echo)
    return Installation(
        kafka_classpath=tuple(f.target for f in pinned["kafka"]),
        jmx_agent=jmx_agent.target,
        apicurio_jar=apicurio_jar,
        flink_home=home,
        prometheus=ensure_prometheus(echo),
        alertmanager=ensure_alertmanager(echo),
        influxd=ensure_binary("influxd", cache_dir, echo),
        weed=ensure_binary("weed", cache_dir, echo),
    )
