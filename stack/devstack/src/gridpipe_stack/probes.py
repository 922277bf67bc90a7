"""Readiness probes: each asks a service through its real health endpoint or protocol."""

from __future__ import annotations

from collections.abc import Callable

import httpx

Probe = Callable[[], bool]

_HTTP_TIMEOUT = httpx.Timeout(2.0)


def http_ok(url: str, accept: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200) -> Probe:
    def probe() -> bool:
        try:
            return accept(httpx.get(url, timeout=_HTTP_TIMEOUT))
        except httpx.HTTPError:
            return False

    return probe


def kafka_metadata(bootstrap: str) -> Probe:
    """Ready when the broker answers a Metadata request and lists itself."""

    def probe() -> bool:
        from confluent_kafka.admin import AdminClient  # imported late: librdkafka start-up is not free

        admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, "socket.timeout.ms": 2000})
        try:
            return len(admin.list_topics(timeout=2).brokers) > 0
        except Exception:
            return False

    return probe


def apicurio_ready(base_url: str) -> Probe:
    return http_ok(f"{base_url}/health/ready", lambda r: r.status_code == 200 and r.json().get("status") == "UP")


def flink_jobmanager(rest_url: str) -> Probe:
    return http_ok(f"{rest_url}/overview")


def flink_taskmanager(rest_url: str) -> Probe:
    return http_ok(f"{rest_url}/overview", lambda r: r.status_code == 200 and r.json().get("taskmanagers", 0) > 0)


def prometheus_ready(url: str) -> Probe:
    return http_ok(f"{url}/-/ready")


def alertmanager_ready(url: str) -> Probe:
    return http_ok(f"{url}/-/ready")


def influxdb_ready(url: str) -> Probe:
    return http_ok(f"{url}/health", lambda r: r.status_code == 200 and r.json().get("status") == "pass")


def seaweedfs_ready(s3_endpoint: str, master_url: str, volume_address: str) -> Probe:
    """Ready when the S3 gateway answers and the master knows a volume server: before that, a PUT would stall."""
    s3_up = http_ok(f"{s3_endpoint}/healthz")
    volume_known = http_ok(f"{master_url}/dir/status", lambda r: r.status_code == 200 and volume_address in r.text)
    return lambda: s3_up() and volume_known()
