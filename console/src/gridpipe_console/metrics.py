"""The console's Prometheus metrics, served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("gridpipe_console_alerts_consumed", "Alerts read from Kafka and valid.", ["pipeline"])
INVALID = Counter(
    "gridpipe_console_alerts_invalid", "Messages on an anomalies topic that are not valid alerts.", ["pipeline", "kind"]
)
DEDUPLICATED = Counter("gridpipe_console_alerts_deduplicated", "Alerts dropped as already seen.", ["pipeline"])
SUMMARISED = Counter(
    "gridpipe_console_alerts_summarised", "Alerts over the live rate, sent to browsers as a summary.", ["pipeline"]
)
PUSHED = Counter("gridpipe_console_alerts_pushed", "Alert messages sent to browsers (one per browser).")
BROWSERS = Gauge("gridpipe_console_browsers", "Browsers connected by WebSocket.")
QUEUE_DROPS = Counter("gridpipe_console_queue_drops", "Messages dropped because a browser's queue was full.")
BAD_MESSAGES = Counter(
    "gridpipe_console_bad_browser_messages", "Malformed or refused WebSocket messages from browsers."
)
DELAY = Histogram(
    "gridpipe_console_kafka_to_websocket_seconds",
    "Delay from an alert's Kafka timestamp to its WebSocket send.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LAG = Gauge("gridpipe_console_consumer_lag", "Alerts on the anomalies topic not yet read by the console.", ["pipeline"])
