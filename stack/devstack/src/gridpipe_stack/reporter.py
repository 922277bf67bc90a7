"""Build the loopback-bound Prometheus reporter for Flink (stack/devstack/java/loopback-prometheus-reporter).

Flink's stock reporter listens on every interface and has no host option; the local stack must bind loopback
only. The jar is compiled once per source and Flink version and cached; it joins Flink's prometheus plugin
directory so it shares that plugin's class loader.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from gridpipe_stack.errors import StackError
from gridpipe_stack.java import Java

FACTORY = "io.gridpipe.flink.metrics.LoopbackPrometheusReporterFactory"
_SOURCE = Path(__file__).resolve().parents[2] / "java" / "loopback-prometheus-reporter"


def _source_files() -> list[Path]:
    return sorted(p for p in _SOURCE.rglob("*") if p.is_file())


def _fingerprint(flink_home: Path) -> str:
    digest = hashlib.sha256()
    for path in _source_files():
        digest.update(str(path.relative_to(_SOURCE)).encode())
        digest.update(path.read_bytes())
    digest.update(",".join(sorted(p.name for p in (flink_home / "lib").glob("flink-dist-*.jar"))).encode())
    return digest.hexdigest()[:16]


def build_reporter(java: Java, flink_home: Path, cache_dir: Path) -> Path:
    plugin_dir = flink_home / "plugins" / "metrics-prometheus"
    jar = cache_dir / "build" / f"gridpipe-loopback-prometheus-reporter-{_fingerprint(flink_home)}.jar"
    if not jar.is_file():
        javac = java.executable.resolve().parent / "javac"
        if not javac.is_file():
            raise StackError(
                f"no javac beside {java.executable}; a JDK (not only a JRE) is needed",
                "install openjdk-17-jdk-headless, or point JAVA_HOME at a JDK",
            )
        classpath = ":".join(
            str(p)
            for p in [
                *(flink_home / "lib").glob("flink-dist-*.jar"),
                *plugin_dir.glob("flink-metrics-prometheus-*.jar"),
            ]
        )
        with tempfile.TemporaryDirectory() as out:
            sources = [str(p) for p in _source_files() if p.suffix == ".java"]
            done = subprocess.run(
                [str(javac), "-nowarn", "--release", "17", "-cp", classpath, "-d", out, *sources],
                capture_output=True,
                text=True,
                timeout=300,
            )
            if done.returncode != 0:
                raise StackError(
                    "compiling the loopback Prometheus reporter failed",
                    "check that PyFlink and the JDK match versions.py",
                    done.stderr,
                )
            jar.parent.mkdir(parents=True, exist_ok=True)
            staging = jar.with_suffix(".partial")
            with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in Path(out).rglob("*.class"):
                    archive.write(path, path.relative_to(out))
                for path in (_SOURCE / "META-INF").rglob("*"):
                    if path.is_file():
                        archive.write(path, path.relative_to(_SOURCE))
            staging.replace(jar)
    for old in plugin_dir.glob("gridpipe-loopback-prometheus-reporter-*.jar"):
        if old.name != jar.name:
            old.unlink()
    link = plugin_dir / jar.name
    if not link.exists():
        shutil.copyfile(jar, link)
    return link
