"""Regenerate ``artifacts.lock.json``: resolve each component's closure with Maven, hash every file.

A maintainer's tool, run when a pin in ``versions.py`` changes. Provisioning never needs Maven: it downloads
exactly the files in the lock and checks them against the recorded SHA-256.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx

from gridpipe_stack.errors import StackError
from gridpipe_stack.maven import Coordinate, LockedFile, dump_lock
from gridpipe_stack.versions import COMPONENTS, MavenComponent

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>gridpipe.lock</groupId><artifactId>{name}</artifactId><version>0</version>
  <dependencies>
{dependencies}
  </dependencies>
</project>
"""
_DEPENDENCY = (
    "    <dependency><groupId>{c.group}</groupId><artifactId>{c.artifact}</artifactId>"
    "<version>{c.version}</version><type>{c.type}</type>{classifier}</dependency>"
)
# mvn dependency:list prints "   group:artifact:type[:classifier]:version:scope" per line.
_LISTED = re.compile(r"^\s+([\w.\-]+):([\w.\-]+):([\w.\-]+):(?:([\w.\-]+):)?([\w.\-]+):(compile|runtime)")


def resolve_closure(component: MavenComponent) -> list[Coordinate]:
    roots = [Coordinate.parse(r) for r in component.roots]
    if not component.transitive:
        return roots
    if shutil.which("mvn") is None:
        raise StackError(
            "mvn not found; the lock generator resolves closures with Maven",
            "install Maven (apt-get install maven)",
        )
    dependencies = "\n".join(
        _DEPENDENCY.format(c=c, classifier=f"<classifier>{c.classifier}</classifier>" if c.classifier else "")
        for c in roots
    )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "pom.xml").write_text(_POM.format(name=component.name, dependencies=dependencies))
        out = Path(tmp) / "deps.txt"
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "dependency:list",
                "-DincludeScope=runtime",
                f"-DoutputFile={out}",
                "-Dsort=true",
            ],
            cwd=tmp,
            check=True,
        )
        listed = out.read_text().splitlines()
    closure = []
    for line in listed:
        match = _LISTED.match(line)
        if not match:
            continue
        group, artifact, type_, classifier, version, _scope = match.groups()
        if f"{group}:{artifact}" in component.exclude:
            continue
        closure.append(Coordinate(group, artifact, version, type=type_, classifier=classifier or ""))
    return closure


def lock_file_for(coordinate: Coordinate, client: httpx.Client) -> LockedFile:
    digest = hashlib.sha256()
    size = 0
    with client.stream("GET", coordinate.url) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return LockedFile(str(coordinate), coordinate.repo_path, digest.hexdigest(), size)


def generate(echo: object = print) -> dict[str, list[LockedFile]]:
    locked: dict[str, list[LockedFile]] = {}
    with httpx.Client(timeout=httpx.Timeout(60.0), follow_redirects=True) as client:
        for component in COMPONENTS:
            closure = resolve_closure(component)
            locked[component.name] = [lock_file_for(c, client) for c in closure]
            if callable(echo):
                echo(f"{component.name}: {len(closure)} files")
    dump_lock(locked)
    return locked
