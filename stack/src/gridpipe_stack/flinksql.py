"""Submit Flink SQL to the stack's session cluster and watch jobs through its REST API."""

from __future__ import annotations

import time

import httpx

from gridpipe_stack.config import HOST, StackConfig
from gridpipe_stack.errors import StackError


def submit_sql(cfg: StackConfig, ddl: list[str], insert: str, job_name: str) -> str:
    """Run the DDL, submit ``insert`` as a detached job on the session cluster; return its job id."""
    from pyflink.table import EnvironmentSettings, TableEnvironment  # starts a JVM: only when needed

    settings = EnvironmentSettings.new_instance().in_streaming_mode().build()
    env = TableEnvironment.create(settings)
    conf = env.get_config()
    for key, value in {
        "execution.target": "remote",
        "rest.address": HOST,
        "rest.port": str(cfg.ports.flink_rest),
        "pipeline.name": job_name,
        "execution.checkpointing.interval": "10 s",
    }.items():
        conf.set(key, value)
    for statement in ddl:
        env.execute_sql(statement)
    result = env.execute_sql(insert)
    client = result.get_job_client()
    if client is None:
        raise StackError(f"Flink accepted '{job_name}' but returned no job", "check the JobManager log")
    return str(client.get_job_id())


def running_job_id(cfg: StackConfig, job_name: str) -> str | None:
    """The id of a running job with this name, if there is one."""
    response = httpx.get(f"{cfg.flink_url}/jobs/overview", timeout=5)
    response.raise_for_status()
    for job in response.json()["jobs"]:
        if job["name"] == job_name and job["state"] in {"RUNNING", "CREATED", "RESTARTING", "INITIALIZING"}:
            return str(job["jid"])
    return None


def job_state(cfg: StackConfig, job_id: str) -> str:
    response = httpx.get(f"{cfg.flink_url}/jobs/{job_id}", timeout=5)
    response.raise_for_status()
    return str(response.json()["state"])


def wait_for_state(cfg: StackConfig, job_id: str, wanted: str = "RUNNING", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        state = job_state(cfg, job_id)
        if state == wanted:
            return
        if state in {"FAILED", "CANCELED", "FINISHED"} and state != wanted:
            break
        time.sleep(0.5)
    raise StackError(
        f"Flink job {job_id} is {state}, not {wanted}, after {timeout:.0f}s",
        f"open {cfg.flink_url}/#/job/running/{job_id}/exceptions or read the JobManager log",
    )


def cancel(cfg: StackConfig, job_id: str) -> None:
    httpx.patch(f"{cfg.flink_url}/jobs/{job_id}?mode=cancel", timeout=10).raise_for_status()
