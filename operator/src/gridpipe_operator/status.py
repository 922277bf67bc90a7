"""A GridPipeline's status, computed from what was observed (children as they are, outcomes of external calls).

Pure functions: given the same observations they give the same status, so a reconcile writes status only when
something really changed, and ``lastTransitionTime`` moves only when a condition's status flips.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE = 1024


@dataclass(frozen=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str = ""


@dataclass(frozen=True)
class Outcome:
    """The result of ensuring an external resource (schemas, buckets): ok, or the reason and message why not;
    ``ok`` None while it is being checked."""

    ok: bool | None
    reason: str
    message: str = ""


CHECKING = Outcome(None, "Checking", "being ensured through the service's API")


@dataclass(frozen=True)
class Observed:
    """What a reconcile saw: live children (None when absent) and the outcomes of its external work."""

    generation: int
    topics: Mapping[str, Mapping[str, Any] | None]  # child name -> live KafkaTopic
    flink: Mapping[str, Any] | None
    schemas: Outcome
    storage: Outcome
    apply_errors: Sequence[str] = field(default_factory=tuple)


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _ready_condition(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in obj.get("status", {}).get("conditions", []) or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return None


def topics_condition(topics: Mapping[str, Mapping[str, Any] | None]) -> Condition:
    missing = sorted(name for name, obj in topics.items() if obj is None)
    if missing:
        return Condition("TopicsReady", "False", "TopicMissing", f"KafkaTopic not found: {', '.join(missing)}")
    failed, waiting = [], []
    for name, obj in sorted(topics.items()):
        ready = _ready_condition(obj or {})
        if ready is None:
            waiting.append(name)
        elif ready.get("status") != "True":
            failed.append(f"{name}: {ready.get('reason') or 'NotReady'}: {ready.get('message') or 'no message'}")
    if failed:
        return Condition("TopicsReady", "False", "TopicNotReady", _short("; ".join(failed)))
    if waiting:
        return Condition(
            "TopicsReady", "Unknown", "AwaitingTopicOperator", f"no Ready condition yet on {', '.join(waiting)}"
        )
    return Condition("TopicsReady", "True", "TopicsReady", f"{len(topics)} topics ready")


def flink_error_message(error: Any) -> str:
    """The Flink operator's ``status.error`` is a JSON document (type, message, throwables) or plain text."""
    if not error:
        return ""
    text = str(error)
    try:
        parsed = json.loads(text)
    except ValueError:
        return _short(text)
    if isinstance(parsed, dict):
        return _short(str(parsed.get("message") or parsed.get("type") or text))
    return _short(text)


def job_condition(flink: Mapping[str, Any] | None) -> Condition:
    if flink is None:
        return Condition("JobRunning", "False", "FlinkDeploymentMissing", "FlinkDeployment not found")
    status = flink.get("status") or {}
    state = str((status.get("jobStatus") or {}).get("state") or "")
    error = flink_error_message(status.get("error"))
    lifecycle = str(status.get("lifecycleState") or "")
    if not state:
        message = error or f"waiting for the Flink operator (lifecycle {lifecycle or 'none yet'})"
        return Condition(
            "JobRunning",
            "Unknown" if not error else "False",
            "AwaitingFlinkOperator" if not error else "DeploymentError",
            message,
        )
    if state == "RUNNING" and lifecycle != "UPGRADING" and not error:
        return Condition("JobRunning", "True", "Running", f"job state RUNNING (lifecycle {lifecycle or 'unknown'})")
    if lifecycle == "UPGRADING":
        return Condition(
            "JobRunning", "False", "Upgrading", error or "taking a savepoint and restarting with the new spec"
        )
    reason = "Job" + state.title().replace("_", "")
    return Condition("JobRunning", "False", reason, error or f"job state {state}")


def _outcome_condition(kind: str, outcome: Outcome) -> Condition:
    status = "Unknown" if outcome.ok is None else str(outcome.ok)
    return Condition(kind, status, outcome.reason, _short(outcome.message))


def conditions_for(observed: Observed) -> list[Condition]:
    parts = [
        topics_condition(observed.topics),
        job_condition(observed.flink),
        _outcome_condition("SchemasRegistered", observed.schemas),
        _outcome_condition("StorageReady", observed.storage),
    ]
    if observed.apply_errors:
        reason, message = "ApplyFailed", _short("; ".join(observed.apply_errors))
        ready = Condition("Ready", "False", reason, message)
    else:
        not_ready = [c for c in parts if c.status != "True"]
        ready = (
            Condition("Ready", "True", "AllReady", "topics ready, job running, schemas registered, storage ready")
            if not not_ready
            else Condition("Ready", "False", not_ready[0].reason, f"{not_ready[0].type}: {not_ready[0].message}")
        )
    return [ready, *parts]


def phase_for(conditions: Sequence[Condition]) -> str:
    by_type = {c.type: c for c in conditions}
    if by_type["Ready"].status == "True":
        return "Running"
    job = by_type["JobRunning"]
    if job.reason in {"JobFailed", "DeploymentError"}:
        return "Failed"
    if by_type["Ready"].reason == "ApplyFailed" or any(
        c.status == "False" and c.type in {"SchemasRegistered", "StorageReady"} for c in conditions
    ):
        return "Degraded"
    return "Deploying"


def status_for(observed: Observed, previous: Mapping[str, Any] | None, now: str) -> dict[str, Any]:
    """The whole ``status`` to write. ``previous`` is the live status; ``now`` an RFC 3339 timestamp."""
    conditions = conditions_for(observed)
    before = {c.get("type"): c for c in (previous or {}).get("conditions", []) or []}
    rendered = []
    for condition in conditions:
        old = before.get(condition.type) or {}
        unchanged = old.get("status") == condition.status and old.get("lastTransitionTime")
        rendered.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "lastTransitionTime": old["lastTransitionTime"] if unchanged else now,
                "observedGeneration": observed.generation,
            }
        )
    flink_status = (observed.flink or {}).get("status") or {}
    job = flink_status.get("jobStatus") or {}
    status: dict[str, Any] = {
        "observedGeneration": observed.generation,
        "phase": phase_for(conditions),
        "jobState": str(job.get("state") or "NONE"),
        "conditions": rendered,
    }
    if job.get("jobId"):
        status["jobId"] = str(job["jobId"])
    return status


def same_status(a: Mapping[str, Any] | None, b: Mapping[str, Any]) -> bool:
    """Whether writing ``b`` over ``a`` would change anything that matters."""
    return dict(a or {}) == dict(b)


def blocked_status(
    *, generation: int, phase: str, reason: str, message: str, previous: Mapping[str, Any] | None, now: str
) -> dict[str, Any]:
    """Status when nothing could be reconciled (invalid spec, connections Secret missing): every condition False."""
    from gridpipe_schemas.crd import CONDITION_TYPES

    before = {c.get("type"): c for c in (previous or {}).get("conditions", []) or []}
    conditions = []
    for kind in CONDITION_TYPES:
        old = before.get(kind) or {}
        unchanged = old.get("status") == "False" and old.get("lastTransitionTime")
        conditions.append(
            {
                "type": kind,
                "status": "False",
                "reason": reason,
                "message": _short(message),
                "lastTransitionTime": old["lastTransitionTime"] if unchanged else now,
                "observedGeneration": generation,
            }
        )
    return {
        "observedGeneration": generation,
        "phase": phase,
        "jobState": str((previous or {}).get("jobState") or "NONE"),
        "conditions": conditions,
    }


def recorded_outcome(previous: Mapping[str, Any] | None, kind: str, generation: int) -> Outcome | None:
    """The outcome the status records for this generation (None when it records none)."""
    for condition in (previous or {}).get("conditions", []) or []:
        if (
            condition.get("type") == kind
            and condition.get("observedGeneration") == generation
            and condition.get("reason") not in {"InvalidSpec", "ConnectionsMissing"}
        ):
            state = condition.get("status")
            ok = None if state == "Unknown" else state == "True"
            return Outcome(ok, str(condition.get("reason") or kind), str(condition.get("message") or ""))
    return None
