"""Fan-out of alerts to browsers: deduplication, per-pipeline flood control, and one bounded queue per browser.

Runs on the event loop only. The Kafka consumer thread hands alerts over with ``loop.call_soon_threadsafe``; nothing
here blocks, so a slow browser can never slow the consumer or the other browsers: its queue fills, further
messages for it are dropped and counted, and it receives one "N alerts skipped, reload history" marker when there
is room again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gridpipe_console import metrics
from gridpipe_console.alerts import LEVELS, Alert, level_rank, summary_text

Message = dict[str, Any]
RECENT_REPLAY = 200  # alerts a (re)subscribing browser is sent at once


class RecentIds:
    """The last ``capacity`` alert ids, oldest forgotten first: a replay after recovery shows nothing twice."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, alert_id: str) -> bool:
        """Whether ``alert_id`` is new (and now remembered)."""
        if alert_id in self._ids:
            self._ids.move_to_end(alert_id)
            return False
        self._ids[alert_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True


@dataclass
class Subscription:
    pipelines: frozenset[str] = frozenset()  # empty: every pipeline
    min_level: str = "low"

    def wants(self, pipeline: str, level: str) -> bool:
        return (not self.pipelines or pipeline in self.pipelines) and level_rank(level) >= level_rank(self.min_level)


@dataclass(eq=False)  # each browser is itself, however alike two are
class Browser:
    """One connected browser: its filters and its bounded queue of encoded messages (with the alert's Kafka time)."""

    queue_size: int
    subscription: Subscription = field(default_factory=Subscription)
    skipped: int = 0
    queue: asyncio.Queue[tuple[str, float | None]] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def offer(self, message: Message, kafka_time: float | None = None) -> None:
        if self.skipped and self.queue.qsize() <= self.queue_size - 2:
            marker = {
                "kind": "skipped",
                "count": self.skipped,
                "text": f"{self.skipped} alerts skipped, reload history",
            }
            self.queue.put_nowait((json.dumps(marker), None))
            self.skipped = 0
        if self.skipped or self.queue.full():
            self.skipped += 1
            metrics.QUEUE_DROPS.inc()
            return
        self.queue.put_nowait((json.dumps(message), kafka_time))


@dataclass(frozen=True)
class _Group:
    level: str
    severity: str
    type: str
    count: int
    sensors: int


@dataclass
class _Second:
    """Alerts of one pipeline beyond its live rate in the current second, to be sent as a summary."""

    profile: str
    counts: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    sensors: dict[tuple[str, str, str], set[str]] = field(default_factory=lambda: defaultdict(set))


class Hub:
    """Deduplicates, rate-limits per pipeline and fans out to every browser whose filters want the alert."""

    def __init__(
        self, max_live_rate: int, queue_size: int, dedup_capacity: int = 100_000, replay: int = RECENT_REPLAY
    ) -> None:
        self.max_live_rate = max_live_rate
        self.queue_size = queue_size
        self.browsers: set[Browser] = set()
        self._seen = RecentIds(dedup_capacity)
        self._recent: deque[Alert] = deque(maxlen=replay)
        self._second = int(time.time())
        self._sent_this_second: dict[str, int] = defaultdict(int)
        self._held: dict[str, _Second] = {}
        self.listeners: list[Callable[[Alert], None]] = []

    def connect(self) -> Browser:
        browser = Browser(self.queue_size)
        self.browsers.add(browser)
        metrics.BROWSERS.set(len(self.browsers))
        return browser

    def disconnect(self, browser: Browser) -> None:
        self.browsers.discard(browser)
        metrics.BROWSERS.set(len(self.browsers))

    def publish(self, alert: Alert, kafka_time: float | None = None, now: float | None = None) -> None:
        """One alert from Kafka: dropped if seen, summarised if its pipeline is over its rate, else sent."""
        if not self._seen.add(alert["id"]):
            metrics.DEDUPLICATED.labels(alert["pipeline"]).inc()
            return
        for listener in self.listeners:
            listener(alert)
        self._recent.append(alert)
        self.tick(now)
        pipeline = alert["pipeline"]
        if self._sent_this_second[pipeline] >= self.max_live_rate:
            self._hold(alert)
            return
        self._sent_this_second[pipeline] += 1
        message = {"kind": "alert", "alert": alert}
        for browser in self.browsers:
            if browser.subscription.wants(pipeline, alert["level"]):
                browser.offer(message, kafka_time)

    def replay(self, browser: Browser) -> None:
        """The latest alerts its filters want, to a browser that (re)subscribes: alerts this console took from Kafka
        before the browser was connected (after a restart, say) reach it without a history query. The page drops
        the ids it already shows."""
        wanted = [a for a in self._recent if browser.subscription.wants(a["pipeline"], a["level"])]
        for alert in wanted[-self.queue_size // 2 :]:
            browser.offer({"kind": "alert", "alert": alert, "replayed": True})

    def _hold(self, alert: Alert) -> None:
        held = self._held.setdefault(alert["pipeline"], _Second(alert["profile"]))
        key = (alert["level"], alert["severity"], alert["type"])
        held.counts[key] += 1
        held.sensors[key].add(alert["sensor"])
        metrics.SUMMARISED.labels(alert["pipeline"]).inc()

    def tick(self, now: float | None = None) -> None:
        """Close the current second when it has passed: send the summaries of what was held back."""
        second = int(time.time() if now is None else now)
        if second == self._second:
            return
        held, self._held = self._held, {}
        self._sent_this_second.clear()
        closed, self._second = self._second, second
        for pipeline, summary in held.items():
            self._send_summary(pipeline, summary, closed)

    def _send_summary(self, pipeline: str, held: _Second, second: int) -> None:
        groups = [
            _Group(level, severity, kind, count, len(held.sensors[(level, severity, kind)]))
            for (level, severity, kind), count in sorted(held.counts.items(), key=lambda item: -item[1])
        ]
        for browser in self.browsers:
            sub = browser.subscription
            if sub.pipelines and pipeline not in sub.pipelines:
                continue
            wanted = [g for g in groups if level_rank(g.level) >= level_rank(sub.min_level)]
            if not wanted:
                continue
            text = "; ".join(summary_text(g.count, g.severity, g.type, g.sensors, held.profile) for g in wanted)
            browser.offer(
                {
                    "kind": "summary",
                    "pipeline": pipeline,
                    "second": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)),
                    "count": sum(g.count for g in wanted),
                    "text": text,
                    "groups": [g.__dict__ for g in wanted],
                }
            )


def parse_subscription(text: str, known: set[str]) -> tuple[Subscription, list[str]]:
    """A browser's subscribe message; raises ValueError naming what is wrong. Also returns unknown pipelines named
    (ignored, and reported to the browser)."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError as bad:
        raise ValueError(f"not JSON ({bad.msg}); send {{'kind': 'subscribe', 'pipelines': [...]}}") from bad
    if not isinstance(message, dict) or message.get("kind") != "subscribe":
        raise ValueError("unknown message; the console accepts only {'kind': 'subscribe', ...}")
    pipelines = message.get("pipelines") or []
    min_level = message.get("minLevel", "low")
    if not isinstance(pipelines, list) or not all(isinstance(p, str) for p in pipelines):
        raise ValueError("pipelines must be a list of pipeline names (empty for all)")
    if min_level not in LEVELS:
        raise ValueError(f"minLevel must be one of {', '.join(LEVELS)}, not {min_level!r}")
    unknown = [p for p in pipelines if p not in known]
    chosen = frozenset(p for p in pipelines if p in known)
    if pipelines and not chosen:
        raise ValueError(f"no such pipeline: {', '.join(unknown)}; the console knows {', '.join(sorted(known))}")
    return Subscription(chosen, min_level), unknown
