"""Watch, stop and cancel jobs through a Flink cluster's REST API."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from gridpipe_schemas.errors import GridpipeError

ACTIVE_STATES = frozenset({"RUNNING", "CREATED", "RESTARTING", "INITIALIZING"})


def _request(method: str, url: str, timeout: float, body: dict[str, object] | None = None) -> httpx.Response:
    try:
        response = httpx.request(method, url, timeout=timeout, json=body)
    except httpx.TransportError as error:
        raise GridpipeError(
            f"the Flink cluster at {url.split('/jobs')[0]} is unreachable ({type(error).__name__})",
            "start it (locally: `gridctl stack up`) or point gridctl at the right one",
        ) from error
    response.raise_for_status()
    return response


def running_job_id(flink_url: str, job_name: str) -> str | None:
    """The id of a running job with this name, if there is one."""
    response = _request("GET", f"{flink_url}/jobs/overview", timeout=5)
    for job in response.json()["jobs"]:
        if job["name"] == job_name and job["state"] in ACTIVE_STATES:
            return str(job["jid"])
    return None


def job_parameters(flink_url: str, job_id: str) -> dict[str, str]:
    """The job's global job parameters (``pipeline.global-job-parameters``), as the JobManager reports them."""
    response = _request("GET", f"{flink_url}/jobs/{job_id}/config", timeout=5)
    return dict(response.json().get("execution-config", {}).get("user-config") or {})


def cluster_setting(flink_url: str, key: str) -> str | None:
    """A setting of the cluster's JobManager configuration, if it is set."""
    response = _request("GET", f"{flink_url}/jobmanager/config", timeout=5)
    return next((str(entry["value"]) for entry in response.json() if entry.get("key") == key), None)


def job_state(flink_url: str, job_id: str) -> str:
    response = _request("GET", f"{flink_url}/jobs/{job_id}", timeout=5)
    return str(response.json()["state"])


def wait_for_state(flink_url: str, job_id: str, wanted: str = "RUNNING", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    state = "UNKNOWN"
    while time.monotonic() < deadline:
        state = job_state(flink_url, job_id)
        if state == wanted:
            return
        if state in {"FAILED", "CANCELED", "FINISHED"} and state != wanted:
            break
        time.sleep(0.5)
    raise GridpipeError(
        f"Flink job {job_id} is {state}, not {wanted}, after {timeout:.0f}s",
        f"open {flink_url}/#/job/running/{job_id}/exceptions or read the JobManager log",
    )


def task_states(flink_url: str, job_id: str) -> dict[str, int]:
    """How many of the job's subtasks are in each state (CREATED, DEPLOYING, INITIALIZING, RUNNING, ...)."""
    response = _request("GET", f"{flink_url}/jobs/{job_id}", timeout=5)
    counts: dict[str, int] = {}
    for vertex in response.json()["vertices"]:
        for state, count in vertex["tasks"].items():
            counts[state] = counts.get(state, 0) + int(count)
    return {state: count for state, count in counts.items() if count}


def wait_for_tasks_running(flink_url: str, job_id: str, timeout: float = 120) -> float:
    """Wait until every subtask of the job runs (has opened its operators and reads or waits for records); return
    the seconds waited. A job is RUNNING as soon as it is scheduled, seconds before its tasks take a record."""
    began = time.monotonic()
    deadline = began + timeout
    states: dict[str, int] = {}
    while time.monotonic() < deadline:
        states = task_states(flink_url, job_id)
        if states and set(states) == {"RUNNING"}:
            return time.monotonic() - began
        if states.keys() & {"FAILED", "CANCELED", "CANCELING"}:
            break
        time.sleep(0.2)
    raise GridpipeError(
        f"Flink job {job_id}'s tasks are not all running after {timeout:.0f}s (subtasks by state: {states})",
        f"open {flink_url}/#/job/running/{job_id}/exceptions or read the TaskManager log",
    )


def sources_read(flink_url: str, job_id: str) -> dict[str, int]:
    """Records each reader of the pipeline's source topic has read so far, by vertex name (the alert path's
    ``source_records``, the archive's ``archiving_source_records``; not the archive's read of the anomalies topic)."""
    response = _request("GET", f"{flink_url}/jobs/{job_id}", timeout=10)
    vertices = response.json()["vertices"]
    return {
        v["name"]: int(v["metrics"]["read-records"])
        for v in vertices
        if v["name"].startswith(("Source: source_records", "Source: archiving_source_records"))
    }


def latest_exception(flink_url: str, job_id: str) -> str:
    """The first line of the job's newest exception, or "none recorded"."""
    history = _request("GET", f"{flink_url}/jobs/{job_id}/exceptions", timeout=10).json()
    entries = history.get("exceptionHistory", {}).get("entries", [])
    return str(entries[0]["stacktrace"]).splitlines()[0] if entries else "none recorded"


def wait_for_sources(
    flink_url: str,
    job_id: str,
    records: int,
    echo: Callable[[str], None],
    *,
    stall_timeout: float = 60.0,
    timeout: float | None = None,
) -> dict[str, float]:
    """Wait until each reader of the source topic (``sources_read``) has read ``records`` records, echoing progress
    every 5 s; return the seconds each took.

    Fails when the counts stand still for ``stall_timeout`` seconds (the job is failing over, or a sink is stuck), or
    after ``timeout`` seconds, naming the job's latest exception."""
    began = last_report = last_move = time.monotonic()
    done: dict[str, float] = {}
    read: dict[str, int] = {}
    while not read or len(done) < len(read):
        time.sleep(0.2)
        now, previous = time.monotonic(), read
        read = sources_read(flink_url, job_id)
        done.update({name: now - began for name, n in read.items() if n >= records and name not in done})
        if read != previous:
            last_move = now
        elif now - last_move > stall_timeout or (timeout is not None and now - began > timeout):
            raise GridpipeError(
                f"Flink job {job_id} read nothing for {now - last_move:.0f}s ({read} of {records:,} records); its "
                f"latest exception: {latest_exception(flink_url, job_id)}",
                f"open {flink_url}/#/job/running/{job_id}/exceptions or read the TaskManager log "
                "(gridctl stack logs flink-taskmanager)",
            )
        if now - last_report >= 5:
            least = min(read.values(), default=0)
            echo(f"… {least:,} of {records:,} records read, {least / (now - began):,.0f}/s")
            last_report = now
    return done


def cancel(flink_url: str, job_id: str) -> None:
    _request("PATCH", f"{flink_url}/jobs/{job_id}?mode=cancel", timeout=10)


def cancel_and_wait(flink_url: str, job_id: str, timeout: float = 60) -> None:
    """Cancel the job and wait until Flink calls it CANCELED."""
    cancel(flink_url, job_id)
    wait_for_state(flink_url, job_id, "CANCELED", timeout=timeout)


def root_cause(failure: object) -> str:
    """The innermost cause of a failure the REST API reports (its ``stack-trace``: the last "Caused by:" line, else
    the first line), one line instead of a Java stack trace and a serialized exception."""
    trace = failure.get("stack-trace") if isinstance(failure, dict) else None
    if not isinstance(trace, str):
        return str(failure)
    lines = trace.splitlines()
    causes = [line.removeprefix("Caused by: ") for line in lines if line.startswith("Caused by: ")]
    if causes:
        return causes[-1].strip()
    return lines[0].strip() if lines else ""


def stop_with_savepoint(flink_url: str, job_id: str, directory: str | None, timeout: float = 120) -> str:
    """Stop the job with a savepoint under ``directory`` (a URI the JobManager can write; None: the cluster's
    ``execution.checkpointing.savepoint-dir``); return its location."""
    body: dict[str, object] = {"drain": False, **({"targetDirectory": directory} if directory else {})}
    trigger = _request("POST", f"{flink_url}/jobs/{job_id}/stop", 10, body)
    request_id = trigger.json()["request-id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _request("GET", f"{flink_url}/jobs/{job_id}/savepoints/{request_id}", timeout=5).json()
        if status["status"]["id"] == "COMPLETED":
            operation = status["operation"]
            if "location" in operation:
                return str(operation["location"])
            cause = root_cause(operation.get("failure-cause", operation))
            raise GridpipeError(
                f"job {job_id} could not stop with a savepoint: {cause}",
                "read the JobManager log; the job keeps running",
            )
        time.sleep(0.5)
    raise GridpipeError(
        f"job {job_id} took over {timeout:.0f}s to stop with a savepoint",
        "see the checkpoints tab of the Flink UI for what holds the savepoint up",
    )
