"""Test support for the console: a console process on the test stack, rocket telemetry to feed a pipeline, and a
real Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from gridpipe_schemas.catalog import example
from gridpipe_stack.config import StackConfig

CHROMIUM = Path(os.environ.get("GRIDPIPE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# Installed before any page script: counts the oscillators the page starts (its alarm sound) and the times its
# critical flash came on.
PAGE_HOOKS = """
window.__oscillators = 0;
window.__flashes = 0;
const created = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__oscillators += 1; return created.call(this); };
new MutationObserver((records) => {
  for (const r of records) if (r.target.id === 'flash' && r.target.classList.contains('on')) window.__flashes += 1;
}).observe(document, {attributes: true, attributeFilter: ['class'], subtree: true});
"""
# The schema's example telemetry: no rule fires.
NORMAL_TELEMETRY: dict[str, Any] = example("TelemetryMessage")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_STARTED = datetime.now(UTC)
_sent = itertools.count()


def telemetry(rocket: str, mission_time: float, **changes: Any) -> dict[str, Any]:
    """A telemetry message; ``changes`` make rules fire (thrust=0.0: one critical alert). Each message gets its own
    millisecond, as a real rocket's do: InfluxDB keeps one point per series and time, so two alerts of one rocket,
    rule and millisecond would be one point."""
    now = _STARTED + timedelta(milliseconds=next(_sent))
    return {
        **NORMAL_TELEMETRY,
        "rocketId": rocket,
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "missionTime": mission_time,
        **changes,
    }


def produce(bootstrap: str, topic: str, messages: Sequence[dict[str, Any] | bytes], per_second: float = 0) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    started = time.monotonic()
    for i, message in enumerate(messages):
        value = message if isinstance(message, bytes) else json.dumps(message).encode()
        producer.produce(topic, value)
        producer.poll(0)
        if per_second and i % 100 == 99:
            ahead = (i + 1) / per_second - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    assert producer.flush(30) == 0, "Kafka did not take every message within 30 s"


@dataclass
class ConsoleProcess:
    """`python -m gridpipe_console` on the test stack."""

    stack: StackConfig
    files: list[Path]
    log: Path
    port: int = field(default_factory=free_port)
    token_file: Path | None = None
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "gridpipe_console", *(a for f in self.files for a in ("-f", str(f)))]
        command += ["--port", str(self.port), *self.extra]
        if self.token_file:
            command += ["--token-file", str(self.token_file)]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **self.stack.environment()}
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the console exited: {self.log.read_text()[-2000:]}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"the console did not answer within {timeout} s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def api(self, path: str, **params: Any) -> Any:
        # Longer than the console's own 30 s InfluxDB timeout, so a slow history query shows as its 503, not as ours.
        response = httpx.get(f"{self.url}{path}", params=params, timeout=45)
        response.raise_for_status()
        return response.json()

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=15).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            key, _, value = line.rpartition(" ")
            labelled = key.startswith(name + "{") and all(p in key for p in wanted.split(",") if p)
            if key == name or labelled:
                total += float(value)
        return total


def write_pipeline(directory: Path, document: dict[str, Any]) -> Path:
    path = directory / f"{document['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def wait_until(check: Any, timeout: float, what: str, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what} not within {timeout} s (last: {str(last)[:300]})")


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise AssertionError(f"no Chromium at {CHROMIUM}: `make setup` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
