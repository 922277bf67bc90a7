"""What a simulator hands the producer: key, value bytes and the ground-truth label (see docs/schemas.md)."""

from __future__ import annotations

from dataclasses import dataclass

LABEL_HEADER = "gridpipe-label"
SEQ_HEADER = "gridpipe-seq"
PRODUCED_AT_HEADER = "gridpipe-produced-at"

NORMAL = "normal"


def anomaly_label(kinds: list[str]) -> str:
    return "anomaly:" + ",".join(kinds)


def malformed_label(reason: str) -> str:
    return "malformed:" + reason


def parse_label(label: str) -> tuple[str, list[str]]:
    """("normal", []), ("anomaly", [kinds…]) or ("malformed", [reason])."""
    if label == NORMAL:
        return NORMAL, []
    category, _, rest = label.partition(":")
    return category, rest.split(",") if rest else []


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    key: bytes
    value: bytes
    label: str
    timestamp_ms: int
