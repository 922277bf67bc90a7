"""Rocket telemetry (JSON) that follows a plausible flight: ignition, max-Q, staging, second-stage burn.

Normal values stay clear of every range in the PRD's rule table; an injected anomaly puts one parameter (or
several at once) inside its rule's range. Labels name the rule by its parameter (``anomaly:burnRate``), because
two rules (burnRate, fuelLeakRate) share the ``fuel_leak`` type.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from gridpipe_generator.records import NORMAL, GeneratedRecord, anomaly_label

MISSION_SECONDS = 540.0
STAGE_SEPARATION = 165.0
# The PRD's rule table: parameter -> the range an injected anomaly is drawn from.
RULE_RANGES: dict[str, tuple[float, float]] = {
    "engineEfficiency": (40.0, 80.0),
    "burnRate": (2550.0, 2700.0),
    "sensorNoise": (1.5, 3.0),
    "guidanceError": (2.0, 8.0),
    "fuelLeakRate": (50.0, 200.0),
    "engineTemp": (3400.0, 4000.0),
    "thrust": (0.0, 0.0),
    "activeAnomalies": (1.0, 5.0),
}
ROCKET_ANOMALY_KINDS = tuple(RULE_RANGES)


def rocket_id(index: int) -> str:
    return f"Falcon-9-{index + 1:03d}"


def iso_millis(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


class RocketSimulator:
    def __init__(
        self,
        *,
        rockets: int,
        seed: int,
        anomaly_rate: float,
        start_ms: int,
        events_per_second: float,
        kinds: tuple[str, ...] = ROCKET_ANOMALY_KINDS,
    ) -> None:
        self._random = random.Random(seed)
        self.rockets = rockets
        self.anomaly_rate = anomaly_rate
        self.kinds = kinds
        self.start_ms = start_ms
        self.interval_ms = 1000.0 / events_per_second
        # Rockets are staggered through their missions so a run shows every phase.
        self._phase = [self._random.uniform(0, MISSION_SECONDS) for _ in range(rockets)]

    def nominal(self, rocket: int, timestamp_ms: int) -> dict[str, Any]:
        g = self._random.gauss
        mission_time = ((timestamp_ms - self.start_ms) / 1000 + self._phase[rocket]) % MISSION_SECONDS
        first_stage = mission_time < STAGE_SEPARATION
        burn = min(1.0, 0.1 + mission_time / 6) if first_stage else 1.0
        max_thrust = 7607.0 if first_stage else 981.0
        thrust = max(300.0, max_thrust * burn + g(0, 0.004 * max_thrust))
        return {
            "rocketId": rocket_id(rocket),
            "timestamp": iso_millis(timestamp_ms),
            "missionTime": round(mission_time, 3),
            "engineEfficiency": round(_clip(g(92.0, 1.5), 84.0, 99.0), 2),
            "burnRate": round(_clip(g(2450.0, 20.0), 2380.0, 2520.0) * (1 if first_stage else 0.13), 1),
            "sensorNoise": round(_clip(abs(g(0.5, 0.2)), 0.05, 1.2), 3),
            "guidanceError": round(_clip(abs(g(0.3, 0.2)), 0.0, 1.5), 3),
            "fuelLeakRate": round(_clip(abs(g(0.0, 2.0)), 0.0, 10.0), 2),
            "engineTemp": round(_clip(2950.0 + 250.0 * burn + g(0.0, 15.0), 2800.0, 3300.0), 1),
            "thrust": round(thrust, 1),
            "activeAnomalies": 0,
            "altitude": round(0.5 * 30.0 * mission_time**2 if mission_time < 60 else 54000 + 900 * mission_time, 1),
            "velocity": round(30.0 * mission_time if mission_time < 60 else 1800 + 12.0 * mission_time, 1),
            "fuelRemaining": round(max(0.0, 100.0 - mission_time / MISSION_SECONDS * 95.0), 2),
            "stage": 1 if first_stage else 2,
        }

    def _anomaly_kinds(self) -> list[str]:
        r = self._random
        count = 1 if r.random() < 0.85 else r.randint(2, 4)
        return sorted(r.sample(self.kinds, min(count, len(self.kinds))))

    def inject(self, telemetry: dict[str, Any], kinds: list[str]) -> None:
        r = self._random
        for kind in kinds:
            low, high = RULE_RANGES[kind]
            if kind == "activeAnomalies":
                telemetry[kind] = r.randint(int(low), int(high))
            elif kind == "thrust":
                telemetry[kind] = 0.0
            else:
                # Inside the range, a hair away from its ends, so the verdict never hinges on a boundary.
                telemetry[kind] = round(r.uniform(low + 0.01 * (high - low), high - 0.01 * (high - low)), 2)

    def records(self) -> Iterator[GeneratedRecord]:
        index = 0
        while True:
            rocket = index % self.rockets
            timestamp = self.start_ms + int(index * self.interval_ms)
            telemetry = self.nominal(rocket, timestamp)
            label = NORMAL
            if self._random.random() < self.anomaly_rate:
                kinds = self._anomaly_kinds()
                self.inject(telemetry, kinds)
                label = anomaly_label(kinds)
            yield GeneratedRecord(telemetry["rocketId"].encode(), json.dumps(telemetry).encode(), label, timestamp)
            index += 1
