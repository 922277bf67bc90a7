"""Kafka consumers of the console, each on its own thread: every pipeline's anomalies topic, and the rocket
pipelines' telemetry topics for the live telemetry panel.

confluent-kafka's consumer blocks, so it runs beside the event loop and hands each valid alert over with
``call_soon_threadsafe``; the loop never waits on Kafka. An invalid message is counted, logged once per kind and
pipeline, and skipped: the consumer never stops on bad input.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gridpipe_console import metrics
from gridpipe_console.alerts import Alert, InvalidAlert, from_grid_event, from_rocket_message
from gridpipe_console.settings import ConsoleSettings, Pipelines, PipelineView
from gridpipe_schemas.catalog import avro

log = logging.getLogger("gridpipe.console")
POLL_SECONDS = 0.2
STATUS_EVERY_SECONDS = 2.0

Deliver = Callable[[Alert, float | None], None]


@dataclass
class KafkaHealth:
    reachable: bool = False
    error: str | None = "not checked yet"
    lag: dict[str, int | None] = field(default_factory=dict)
    consumed: dict[str, int] = field(default_factory=dict)


def _grid_decoder(registry_url: str, topic: str) -> Callable[[bytes], Alert]:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    # Today's AnomalyEvent as the reader schema: alerts written under an older version resolve to today's names.
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": registry_url}), avro("AnomalyEvent").text)
    context = SerializationContext(topic, MessageField.VALUE)

    def decode(value: bytes) -> Alert:
        try:
            event = deserialize(value, context)
        except Exception as bad:  # the deserializer raises many kinds; each is an invalid alert
            raise InvalidAlert("avro", f"{type(bad).__name__}: {bad}"[:200]) from bad
        if not isinstance(event, dict):
            raise InvalidAlert("avro", "not a record")
        return from_grid_event(event)

    return decode


class FollowedTopics:
    """The topics one consumer reads, following today's pipelines (on Kubernetes they come and go)."""

    def __init__(self, pipelines: Pipelines, topic_of: Callable[[PipelineView], str | None]) -> None:
        self.pipelines = pipelines
        self.topic_of = topic_of
        self.by_topic: dict[str, PipelineView] = {}
        self._version = -1

    def refresh(self, consumer: Any) -> bool:
        """Subscribe to the topics of today's pipelines; True when they changed."""
        if self.pipelines.version == self._version:
            return False
        self._version = self.pipelines.version
        self.by_topic = {topic: p for p in self.pipelines.all() if (topic := self.topic_of(p))}
        if self.by_topic:
            consumer.subscribe(sorted(self.by_topic))
        else:
            consumer.unsubscribe()
        return True


class AlertConsumer(threading.Thread):
    """Reads every pipeline's anomalies topic in one consumer group and delivers valid alerts."""

    def __init__(self, settings: ConsoleSettings, deliver: Deliver) -> None:
        super().__init__(name="console-alerts", daemon=True)
        self.settings = settings
        self.deliver = deliver
        self.health = KafkaHealth()
        self.stopping = threading.Event()
        self._logged: set[tuple[str, str]] = set()
        self.topics = FollowedTopics(settings.pipelines, lambda p: p.topic)
        self._decoders: dict[str, Callable[[bytes], Alert]] = {}

    def _decoder(self, view: PipelineView) -> Callable[[bytes], Alert]:
        if view.topic not in self._decoders:
            if view.profile == "grid":
                self._decoders[view.topic] = _grid_decoder(self.settings.registry_url, view.topic)
            else:
                self._decoders[view.topic] = lambda value: from_rocket_message(value, view.name)
        return self._decoders[view.topic]

    def run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "group.id": self.settings.group_id,
                "auto.offset.reset": "latest",
                "enable.auto.commit": True,
                "fetch.wait.max.ms": 50,
                # A topic created after the console started (a new pipeline) is found within seconds.
                "topic.metadata.refresh.interval.ms": 5000,
                "log_level": 0,
                "error_cb": self._kafka_error,
            }
        )
        next_status = 0.0
        try:
            while not self.stopping.is_set():
                if self.topics.refresh(consumer):
                    self._decoders.clear()
                    for view in self.topics.by_topic.values():
                        metrics.CONSUMED.labels(view.name)  # at 0 from the start: rate() then has a series
                if time.monotonic() >= next_status:
                    self._check(consumer)
                    next_status = time.monotonic() + STATUS_EVERY_SECONDS
                if not self.topics.by_topic:
                    self.stopping.wait(POLL_SECONDS)
                    continue
                message = consumer.poll(POLL_SECONDS)
                if message is not None:
                    self._handle(message)
        finally:
            consumer.close()

    def _handle(self, message: Any) -> None:
        if message.error():
            self.health.error = str(message.error())
            return
        view = self.topics.by_topic.get(message.topic())
        if view is None:
            return
        try:
            if message.value() is None:
                raise InvalidAlert("empty", "a message without a value")
            alert = self._decoder(view)(message.value())
        except InvalidAlert as invalid:
            self._invalid(view.name, invalid, message)
            return
        alert["pipeline"] = view.name
        alert["receivedAt"] = round(time.time(), 6)
        metrics.CONSUMED.labels(view.name).inc()
        self.health.consumed[view.name] = self.health.consumed.get(view.name, 0) + 1
        kind, millis = message.timestamp()
        self.deliver(alert, millis / 1000 if kind and millis > 0 else None)

    def _invalid(self, pipeline: str, invalid: InvalidAlert, message: Any) -> None:
        metrics.INVALID.labels(pipeline, invalid.kind).inc()
        if (pipeline, invalid.kind) not in self._logged:
            self._logged.add((pipeline, invalid.kind))
            log.warning(
                "invalid alert on %s partition %s offset %s (%s), skipped; further ones of this kind are counted in "
                "gridpipe_console_alerts_invalid only",
                message.topic(),
                message.partition(),
                message.offset(),
                invalid,
            )

    def _kafka_error(self, error: Any) -> None:
        self.health.error = str(error)
        if error.code() in (-187, -195):  # _ALL_BROKERS_DOWN, _TRANSPORT
            self.health.reachable = False

    def _check(self, consumer: Any) -> None:
        """Reachability and lag: what a KafkaStatus panel shows."""
        from confluent_kafka import KafkaException, TopicPartition

        try:
            consumer.list_topics(timeout=1.5)
            self.health.reachable, self.health.error = True, None
            assigned = consumer.assignment()
            positions = {(tp.topic, tp.partition): tp.offset for tp in consumer.position(assigned)}
            lag: dict[str, int | None] = {}
            for tp in assigned:
                _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=1.0)
                position = positions.get((tp.topic, tp.partition), -1)
                view = self.topics.by_topic.get(tp.topic)
                if view is None:
                    continue
                name = view.name
                behind = max(0, high - position) if position >= 0 else 0
                lag[name] = (lag.get(name) or 0) + behind
            for view in self.settings.pipelines.all():
                lag.setdefault(view.name, None)
                if lag[view.name] is not None:
                    metrics.LAG.labels(view.name).set(lag[view.name] or 0)
            self.health.lag = lag
        except KafkaException as failed:
            self.health.reachable, self.health.error = False, str(failed)


@dataclass
class Telemetry:
    """The latest telemetry message per rocket, per pipeline."""

    latest: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    max_rockets: int = 200


class TelemetryConsumer(threading.Thread):
    """Follows the rocket pipelines' telemetry topics from their end, keeping each rocket's latest message."""

    def __init__(self, settings: ConsoleSettings, telemetry: Telemetry) -> None:
        super().__init__(name="console-telemetry", daemon=True)
        self.settings = settings
        self.telemetry = telemetry
        self.stopping = threading.Event()
        self.topics = FollowedTopics(settings.pipelines, lambda p: p.source_topic if p.profile == "rocket" else None)

    def run(self) -> None:
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "group.id": f"{self.settings.group_id}-telemetry",
                "auto.offset.reset": "latest",
                "enable.auto.commit": False,
                "topic.metadata.refresh.interval.ms": 5000,
                "log_level": 0,
            }
        )
        try:
            while not self.stopping.is_set():
                self.topics.refresh(consumer)
                if not self.topics.by_topic:
                    self.stopping.wait(POLL_SECONDS)
                    continue
                message = consumer.poll(POLL_SECONDS)
                if message is None or message.error():
                    continue
                view, value = self.topics.by_topic.get(message.topic() or ""), message.value()
                if view is not None and value is not None:
                    self._keep(view.name, value)
        finally:
            consumer.close()

    def _keep(self, pipeline: str, value: bytes) -> None:
        try:
            telemetry = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return  # the job dead-letters it; the panel shows only readable telemetry
        if not isinstance(telemetry, dict) or not isinstance(telemetry.get("rocketId"), str):
            return
        key = (pipeline, telemetry["rocketId"])
        latest = self.telemetry.latest
        if key not in latest and len(latest) >= self.telemetry.max_rockets:
            return
        latest[key] = telemetry
