"""Download files pinned by SHA-256 into the cache: atomically, in parallel, with progress, verified.

A cached file is trusted only while its size and modification time match what was recorded when its hash
was last verified; any change (a truncated or overwritten file) makes it hashed again, and a mismatch makes it
fetched again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn

from gridpipe_stack.errors import StackError

_CHUNK = 1 << 20
_ATTEMPTS = 3
_TIMEOUT = httpx.Timeout(connect=15.0, read=60.0, write=60.0, pool=15.0)


@dataclass(frozen=True)
class PinnedFile:
    url: str
    sha256: str
    size: int
    target: Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp_of(target: Path) -> dict[str, object]:
    st = target.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def is_verified(pinned: PinnedFile, *, rehash: bool = False) -> bool:
    """True when the cached file is present and its content is the pinned one."""
    target = pinned.target
    if not target.is_file() or target.stat().st_size != pinned.size:
        return False
    stamp = _stamp_path(target)
    if not rehash and stamp.is_file():
        try:
            recorded = json.loads(stamp.read_text())
        except ValueError:
            recorded = {}
        if recorded == {**_stamp_of(target), "sha256": pinned.sha256}:
            return True
    if sha256_of(target) != pinned.sha256:
        return False
    stamp.write_text(json.dumps({**_stamp_of(target), "sha256": pinned.sha256}))
    return True


def _download(pinned: PinnedFile, client: httpx.Client, progress: Progress, task: TaskID) -> None:
    target = pinned.target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    last_error = ""
    for attempt in range(1, _ATTEMPTS + 1):
        digest = hashlib.sha256()
        received = 0
        try:
            with client.stream("GET", pinned.url) as response, partial.open("wb") as out:
                response.raise_for_status()
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    progress.advance(task, len(chunk))
        except httpx.HTTPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if digest.hexdigest() == pinned.sha256:
                partial.replace(target)
                _stamp_path(target).write_text(json.dumps({**_stamp_of(target), "sha256": pinned.sha256}))
                return
            last_error = f"SHA-256 mismatch (got {digest.hexdigest()[:12]}…, expected {pinned.sha256[:12]}…)"
        progress.advance(task, -received)
        partial.unlink(missing_ok=True)
        time.sleep(0.5 * 2**attempt)
    raise StackError(
        f"could not fetch {pinned.url} after {_ATTEMPTS} attempts: {last_error}",
        "check the network route to Maven Central, or run `gridctl stack lock` if a pin was changed on purpose",
    )


def ensure_files(files: Sequence[PinnedFile], *, label: str, rehash: bool = False, workers: int = 4) -> int:
    """Make every file present and verified; return how many were downloaded."""
    missing = [f for f in files if not is_verified(f, rehash=rehash)]
    if not missing:
        return 0
    total = sum(f.size for f in missing)
    columns = (
        TextColumn(f"[bold]{label}[/] {{task.fields[count]}}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with (
        Progress(*columns, transient=False) as progress,
        httpx.Client(timeout=_TIMEOUT, follow_redirects=True) as client,
    ):
        task = progress.add_task(label, total=total, count=f"{len(missing)} file(s)")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(_download, f, client, progress, task) for f in missing]:
                future.result()
    return len(missing)
