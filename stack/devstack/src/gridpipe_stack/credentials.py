"""Connection settings and secrets of the stack's InfluxDB and S3 storage.

Secrets are generated once per stack and kept in files of mode 0600 in ``<run dir>/secrets`` (mode 0700), so they
survive restarts of the stack and never need to be typed, printed or logged. Anything that needs them (tests, the
Flink configuration, a job's environment) asks these functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gridpipe_stack.config import StackConfig
from gridpipe_stack.errors import StackError

INFLUXDB_ORG = "gridpipe"
INFLUXDB_USER = "gridpipe-admin"
INFLUXDB_BUCKET = "gridpipe"
INFLUXDB_BUCKET_RETENTION_SECONDS = 30 * 24 * 3600
S3_REGION = "us-east-1"
S3_BUCKETS = ("gridpipe-archive",)


@dataclass(frozen=True)
class InfluxCredentials:
    url: str
    org: str
    token: str

    def __repr__(self) -> str:  # keeps the token out of tracebacks and logs
        return f"InfluxCredentials(url={self.url!r}, org={self.org!r}, token=***)"


@dataclass(frozen=True)
class S3Credentials:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = S3_REGION

    def __repr__(self) -> str:
        return f"S3Credentials(endpoint={self.endpoint!r}, access_key={self.access_key!r}, secret_key=***)"


def secrets_dir(cfg: StackConfig) -> Path:
    return cfg.run_dir / "secrets"


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a file only its owner can read, created with that mode (never readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    partial = path.with_name(path.name + ".partial")
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    partial.replace(path)
    return path


def _load_or_create(path: Path, generate: dict[str, str]) -> dict[str, str]:
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise StackError(
                f"the stack's secrets file {path} is unreadable ({error.__class__.__name__})",
                f"delete {path} and the stack's data directory, then `gridctl stack up` again",
            ) from error
        if isinstance(stored, dict) and set(generate) <= set(stored):
            return {key: str(value) for key, value in stored.items()}
    write_private(path, json.dumps(generate, indent=2) + "\n")
    return generate


def influxdb_secrets(cfg: StackConfig) -> dict[str, str]:
    """Admin password and API token of the stack's InfluxDB, generated on first use."""
    return _load_or_create(
        secrets_dir(cfg) / "influxdb.json",
        {"username": INFLUXDB_USER, "password": secrets.token_urlsafe(24), "token": secrets.token_urlsafe(48)},
    )


def s3_secrets(cfg: StackConfig) -> dict[str, str]:
    return _load_or_create(
        secrets_dir(cfg) / "s3.json",
        {"access_key": "gridpipe-" + secrets.token_hex(8), "secret_key": secrets.token_urlsafe(32)},
    )


def influxdb(cfg: StackConfig) -> InfluxCredentials:
    return InfluxCredentials(url=cfg.influxdb_url, org=INFLUXDB_ORG, token=influxdb_secrets(cfg)["token"])


def s3(cfg: StackConfig) -> S3Credentials:
    stored = s3_secrets(cfg)
    return S3Credentials(endpoint=cfg.s3_endpoint, access_key=stored["access_key"], secret_key=stored["secret_key"])


def job_environment(cfg: StackConfig) -> dict[str, str]:
    """The sink settings a Flink job of this stack reads from its environment (the jobs contract)."""
    influx = influxdb(cfg)
    return {
        "GRIDPIPE_INFLUXDB_URL": influx.url,
        "GRIDPIPE_INFLUXDB_ORG": influx.org,
        "GRIDPIPE_INFLUXDB_TOKEN": influx.token,
    }
