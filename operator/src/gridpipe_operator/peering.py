"""Whether this replica stands by under kopf's peering, for the work kopf does not schedule itself: the periodic
resync and the retries of external work. kopf pauses its own handlers by the same rule (see docs/operator.md,
"Two replicas", for why these two are not kopf timers)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gridpipe_operator.kube import Kube


@dataclass(frozen=True)
class Peering:
    """The peering record replicas meet in (kopf's ``--peering`` name) and this replica's priority in it."""

    name: str
    priority: int


def _alive(peer: Mapping[str, Any], now: datetime) -> bool:
    seen = datetime.fromisoformat(str(peer.get("lastseen")))
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return now - seen <= timedelta(seconds=float(peer.get("lifetime", 60)))


def outranked(peers: Mapping[str, Any] | None, priority: int, now: datetime) -> bool:
    """Whether kopf pauses a replica of this priority: the peering record is missing, or a live peer has a higher
    priority, or another live peer the same one (kopf then pauses both). ``peers`` includes this replica."""
    if peers is None:
        return True
    live = [int(peer.get("priority", 0)) for peer in peers.values() if isinstance(peer, Mapping) and _alive(peer, now)]
    return any(other > priority for other in live) or live.count(priority) > 1


def stands_by(kube: Kube, peering: Peering | None, namespaces: tuple[str, ...]) -> bool:
    """Whether another replica is the active one now (one read of the peering record); never without peering."""
    if peering is None:
        return False
    return outranked(kube.peers(peering.name, namespaces), peering.priority, datetime.now(UTC))
