"""The gridpipe Flink functions jar (jobs/java): built with Maven once per source, cached, located by jobs.

A deployed image bakes the jar in and points GRIDPIPE_FUNCTIONS_JAR at it; locally it is built from source into
the cache on first use.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gridpipe_schemas.paths import default_cache_dir

SOURCE = Path(__file__).resolve().parents[2] / "java"
JAR_ENV = "GRIDPIPE_FUNCTIONS_JAR"
_BUILD_TIMEOUT = 900


class FunctionsJarError(RuntimeError):
    """The jar cannot be found or built; ``str()`` names the problem and the fix."""


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted([SOURCE / "pom.xml", *(SOURCE / "src" / "main").rglob("*")]):
        if path.is_file():
            digest.update(str(path.relative_to(SOURCE)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_cache_dir() -> Path:
    """Where built functions jars are kept."""
    return default_cache_dir() / "build"


def functions_jar(*, build: bool = True, echo: object = None) -> Path:
    """The jar to ship with a job: GRIDPIPE_FUNCTIONS_JAR if set, else the cached build of this source tree."""
    if explicit := os.environ.get(JAR_ENV):
        jar = Path(explicit)
        if not jar.is_file():
            raise FunctionsJarError(
                f"{JAR_ENV}={explicit} does not exist -- fix: point it at the built jar or unset it"
            )
        return jar
    if not (SOURCE / "pom.xml").is_file():
        raise FunctionsJarError(f"no {JAR_ENV} and no Java sources at {SOURCE} -- fix: set {JAR_ENV}")
    jar = build_cache_dir() / f"gridpipe-flink-functions-{_fingerprint()}.jar"
    if jar.is_file() or not build:
        return jar
    return build_functions_jar(SOURCE, jar)


def build_functions_jar(source: Path, jar: Path) -> Path:
    """Build the Maven project at ``source`` (a checkout of jobs/java) and put its jar at ``jar``, atomically."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FunctionsJarError(
            "Maven (mvn) is needed to build the gridpipe Flink functions -- fix: "
            "apt-get install maven, or set GRIDPIPE_FUNCTIONS_JAR to a built jar"
        )
    print(
        f"building gridpipe Flink functions with Maven ({source}); first run downloads its plugins…",
        file=sys.stderr,
        flush=True,
    )
    done = subprocess.run(
        [mvn, "-q", "-B", "package"], cwd=source, capture_output=True, text=True, timeout=_BUILD_TIMEOUT
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise FunctionsJarError(f"the Maven build of {source} failed -- fix: see the output above\n{tail}")
    built = next((source / "target").glob("gridpipe-flink-functions-*.jar"))
    jar.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, jar.with_suffix(".partial"))
    jar.with_suffix(".partial").replace(jar)
    return jar
