"""One alert shape for the browser, whichever pipeline raised it and wherever it was read (Kafka or InfluxDB).

Grid alerts are AnomalyEvent records (Avro), rocket alerts AnomalyAlert messages (JSON); InfluxDB keeps both as
points. The page sees only ``Alert`` dicts: every field is untrusted text and is rendered as text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import fastjsonschema

from gridpipe_schemas.catalog import json_schema
from gridpipe_schemas.pipeline import rocket_alert_description

LEVELS = ("low", "medium", "high", "critical")
# Grid severities map onto the PRD's four colours in order: yellow, orange, red, purple.
GRID_LEVEL = {"INFO": "low", "WARNING": "medium", "ERROR": "high", "CRITICAL": "critical"}
ROCKET_LEVEL = {level: level for level in LEVELS}
SENSOR_NOUN = {"grid": ("meter", "meters"), "rocket": ("rocket", "rockets")}

Alert = dict[str, Any]


class InvalidAlert(ValueError):
    """An alert that does not match its schema. ``kind`` names the problem class (counted and logged once)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def level_rank(level: str) -> int:
    return LEVELS.index(level)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _plain(value: Any) -> Any:
    """A decoded Avro value as JSON: datetimes as ISO text, non-finite numbers as text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _within(threshold: float | None) -> str | None:
    """A z-score alert's normal range: within the threshold, in standard deviations."""
    return None if threshold is None else f"|z| \u2264 {threshold:g}\u03c3"


def from_grid_event(event: dict[str, Any]) -> Alert:
    """An AnomalyEvent as the Avro deserializer gives it (reader schema: today's AnomalyEvent)."""
    reading = event.get("original_event") or {}
    if not event.get("alert_id") or not isinstance(reading, dict) or not reading.get("meter_id"):
        raise InvalidAlert("missing-field", "alert_id and original_event.meter_id are required")
    severity = str(event.get("severity"))
    if severity not in GRID_LEVEL:
        raise InvalidAlert("unknown-severity", severity)
    window = event.get("window")
    threshold = _number(event.get("threshold_used"))
    moment = reading.get("timestamp")
    return {
        "id": str(event["alert_id"]),
        "pipeline": str(event.get("pipeline", "")),
        "profile": "grid",
        "time": iso(moment) if isinstance(moment, datetime) else str(moment),
        "severity": severity,
        "level": GRID_LEVEL[severity],
        "type": str(event.get("anomaly_type", "")),
        "sensor": str(reading["meter_id"]),
        "quantity": event.get("field"),
        "value": _number(event.get("observed_value")),
        "expected": _within(threshold),
        "description": str(event.get("description", "")),
        "deviation": _number(event.get("deviation")),
        "threshold": threshold,
        "window": (
            {
                "mean": window["mean"],
                "stddev": window["stddev"],
                "count": window["count"],
                "lengthMs": window["length_ms"],
            }
            if isinstance(window, dict)
            else None
        ),
        "original": _plain(reading),
        "detectedAt": iso(event["detected_at"]) if isinstance(event.get("detected_at"), datetime) else None,
    }


@cache
def _anomaly_alert_validator() -> Callable[[Any], Any]:
    """The AnomalyAlert JSON Schema compiled to Python: about 20 times faster than interpreting it with jsonschema,
    which was most of the console's CPU per alert (docs/console.md, Figures)."""
    return fastjsonschema.compile(json_schema("AnomalyAlert").parsed)


def from_rocket_message(value: bytes, pipeline: str) -> Alert:
    """An AnomalyAlert JSON message, validated against its JSON Schema."""
    try:
        message = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as bad:
        raise InvalidAlert("not-json", str(bad)) from bad
    if not isinstance(message, dict):
        raise InvalidAlert("not-an-object", type(message).__name__)
    try:
        _anomaly_alert_validator()(message)
    except fastjsonschema.JsonSchemaValueException as error:
        where = "/".join(str(p) for p in error.path[1:]) or "(message)"
        raise InvalidAlert(f"schema:{where}", str(error.message)[:200]) from error
    return {
        "id": message["alertId"],
        "pipeline": pipeline,
        "profile": "rocket",
        "time": message["timestamp"],
        "severity": message["severity"],
        "level": ROCKET_LEVEL[message["severity"]],
        "type": message["anomalyType"],
        "sensor": message["rocketId"],
        "quantity": message["affectedParameter"],
        "value": _number(message["currentValue"]),
        "expected": message["expectedRange"],
        "description": message["description"],
        "deviation": None,
        "threshold": None,
        "window": None,
        "original": message["originalTelemetry"],
        "detectedAt": None,
        "missionTime": message["missionTime"],
        "totalAnomalies": message["totalAnomalies"],
    }


def from_influx_row(row: dict[str, str]) -> Alert:
    """A pivoted InfluxDB point (measurement grid_anomaly or rocket_anomaly; docs/sinks.md) as CSV text values."""
    profile = "grid" if row.get("_measurement") == "grid_anomaly" else "rocket"
    severity = row.get("severity", "")
    level = (GRID_LEVEL if profile == "grid" else ROCKET_LEVEL).get(severity, "low")

    def number(name: str) -> float | None:
        text = row.get(name) or ""
        try:
            return _number(float(text))
        except ValueError:
            return None

    original: Any = None
    if row.get("original_event"):
        try:
            original = json.loads(row["original_event"])
        except json.JSONDecodeError:
            original = row["original_event"]
    if isinstance(original, dict) and isinstance(original.get("timestamp"), int):  # a reading's epoch millis
        original["timestamp"] = iso(datetime.fromtimestamp(original["timestamp"] / 1000, UTC))
    alert: Alert = {
        "id": row.get("alert_id", ""),
        "pipeline": row.get("pipeline", ""),
        "profile": profile,
        "time": iso(datetime.fromisoformat(row["_time"].replace("Z", "+00:00"))),
        "severity": severity,
        "level": level,
        "type": row.get("anomaly_type", ""),
        "sensor": row.get("sensor_id", ""),
        "quantity": row.get("field" if profile == "grid" else "parameter") or None,
        "value": number("value"),
        "description": ""
        if profile == "grid"
        else rocket_alert_description(row.get("parameter", ""), row.get("anomaly_type", "")),
        "original": original,
        "detectedAt": None,
    }
    if profile == "grid":
        threshold = number("threshold")
        window_ms = number("window_ms")
        alert |= {
            "expected": _within(threshold),
            "deviation": number("deviation"),
            "threshold": threshold,
            "window": (
                {
                    "mean": number("window_mean"),
                    "stddev": number("window_stddev"),
                    "count": number("window_samples"),
                    "lengthMs": window_ms,
                }
                if window_ms is not None
                else None
            ),
        }
    else:
        alert |= {
            "expected": row.get("expected_range") or None,
            "deviation": None,
            "threshold": None,
            "window": None,
            "missionTime": number("mission_time"),
            "totalAnomalies": number("total_anomalies"),
        }
    return alert


def summary_text(count: int, severity: str, anomaly_type: str, sensors: int, profile: str) -> str:
    one, many = SENSOR_NOUN[profile]
    return f"+{count} {severity} {anomaly_type} alerts on {sensors} {one if sensors == 1 else many}"
