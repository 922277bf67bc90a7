"""Smart-meter readings: mains voltage around its nominal value, load-driven current, slowly drifting temperature.

Each meter has its own voltage offset and noise level, a base load that follows the time of day, and an enclosure
temperature that follows the ambient air plus its own heating. Meters report in a fixed round-robin, so with
``meters`` meters at ``rate`` events/s each meter reports every ``meters / rate`` seconds of event time.

Injected anomalies move a value 6 to 12 of that meter's own noise sigmas away from its normal level, beyond any
threshold a pipeline may set (1.5 to 4.0), so a detector has no excuse to miss them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from gridpipe_generator.records import NORMAL, GeneratedRecord, anomaly_label
from gridpipe_generator.wire import MeterEncoder, VarintCache

NOMINAL_VOLTAGE = 230.0
GRID_ANOMALY_KINDS = (
    "VOLTAGE_SURGE",
    "VOLTAGE_SAG",
    "CURRENT_SURGE",
    "CURRENT_DROP",
    "TEMPERATURE_HIGH",
    "TEMPERATURE_LOW",
    "EQUIPMENT_FAILURE",
)
_DAY_MS = 86_400_000
# (field, direction): the field a kind moves and which way.
_KIND_EFFECT = {
    "VOLTAGE_SURGE": ("voltage", 1.0),
    "VOLTAGE_SAG": ("voltage", -1.0),
    "CURRENT_SURGE": ("current", 1.0),
    "CURRENT_DROP": ("current", -1.0),
    "TEMPERATURE_HIGH": ("temperature", 1.0),
    "TEMPERATURE_LOW": ("temperature", -1.0),
}


@dataclass(frozen=True, slots=True)
class Meter:
    meter_id: str
    voltage_offset: float
    voltage_sigma: float
    base_load: float
    current_sigma: float
    temperature_offset: float
    temperature_sigma: float
    encoder: MeterEncoder


class NormalPool:
    """Standard normal draws clipped at 3 sigma, made by numpy in blocks: a tenth of random.gauss's cost per draw.

    Meters filter and quantise what they report, so their noise has no unbounded tails; clipping also means that
    a normal reading never lies beyond 4 sigma, the strictest threshold a pipeline may set.
    """

    __slots__ = ("_block", "_rng", "_used")

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._block: list[float] = []
        self._used = 0

    def next(self) -> float:
        if self._used == len(self._block):
            self._block = np.clip(self._rng.standard_normal(65_536), -3.0, 3.0).tolist()
            self._used = 0
        value = self._block[self._used]
        self._used += 1
        return value


def meter_id(index: int) -> str:
    return f"MTR-{index:06d}"


def _make_meter(index: int, r: random.Random, schema_id: int) -> Meter:
    base_load = r.uniform(2.0, 25.0)
    return Meter(
        meter_id=meter_id(index),
        voltage_offset=r.gauss(0.0, 1.5),
        voltage_sigma=r.uniform(0.8, 1.6),
        base_load=base_load,
        current_sigma=0.04 * base_load,
        temperature_offset=r.gauss(0.0, 2.0),
        temperature_sigma=r.uniform(0.2, 0.4),
        encoder=MeterEncoder(schema_id, meter_id(index), f"FDR-{index % 64:02d}", "4.2.1"),
    )


def _diurnal(timestamp_ms: int, peak_hour: float) -> float:
    """A smooth daily cycle in [-1, 1] peaking at ``peak_hour`` UTC."""
    hours = (timestamp_ms % _DAY_MS) / 3_600_000
    return math.cos(2 * math.pi * (hours - peak_hour) / 24)


class GridSimulator:
    def __init__(
        self,
        *,
        meters: int,
        schema_id: int,
        seed: int,
        anomaly_rate: float,
        start_ms: int,
        events_per_second: float,
        kinds: tuple[str, ...] = GRID_ANOMALY_KINDS,
    ) -> None:
        self._random = random.Random(seed)
        self.meters = [_make_meter(i, self._random, schema_id) for i in range(meters)]
        self._order = list(range(meters))
        self._random.shuffle(self._order)
        self.anomaly_rate = anomaly_rate
        self.kinds = kinds
        self.start_ms = start_ms
        self.interval_ms = 1000.0 / events_per_second

    def _anomaly_kinds(self) -> list[str]:
        r = self._random
        first = r.choice(self.kinds)
        if r.random() < 0.1:  # several at once: a second, different kind on another field or a failure
            second = r.choice(
                [
                    k
                    for k in self.kinds
                    if _KIND_EFFECT.get(k, ("status",))[0] != _KIND_EFFECT.get(first, ("status",))[0]
                ]
                or [first]
            )
            return sorted({first, second})
        return [first]

    def records(self) -> Iterator[GeneratedRecord]:
        r = self._random
        normals = NormalPool(r.getrandbits(32))
        gauss, rand = normals.next, r.random
        count = len(self.meters)
        timestamp_bytes, sequence_bytes = VarintCache(), VarintCache()
        minute, load, ambient = -1, 0.0, 0.0
        index = 0
        while True:
            meter = self.meters[self._order[index % count]]
            timestamp = self.start_ms + int(index * self.interval_ms)
            if timestamp // 60_000 != minute:  # the daily cycles move slowly: once a minute is plenty
                minute = timestamp // 60_000
                load = 0.75 + 0.25 * _diurnal(timestamp, 19.0)
                ambient = 18.0 + 6.0 * _diurnal(timestamp, 15.0)
            voltage = NOMINAL_VOLTAGE + meter.voltage_offset - 1.5 * load + gauss() * meter.voltage_sigma
            current = meter.base_load * load + gauss() * meter.current_sigma
            temperature = (
                ambient + meter.temperature_offset + 0.1 * meter.base_load * load + gauss() * meter.temperature_sigma
            )
            status = "DEGRADED" if rand() < 1e-4 else "OK"
            label = NORMAL
            if rand() < self.anomaly_rate:
                kinds = self._anomaly_kinds()
                label = anomaly_label(kinds)
                for kind in kinds:
                    if kind == "EQUIPMENT_FAILURE":
                        status = "EQUIPMENT_FAILURE"
                        continue
                    field, direction = _KIND_EFFECT[kind]
                    shift = direction * r.uniform(6.0, 12.0)
                    if field == "voltage":
                        voltage += shift * meter.voltage_sigma
                    elif field == "current":
                        current = max(0.0, current + shift * meter.current_sigma)
                    else:
                        temperature += shift * meter.temperature_sigma
            value = meter.encoder.encode(
                timestamp_bytes(timestamp),
                voltage,
                current,
                temperature,
                status,
                sequence_bytes(index // count),
                50.0 + 0.02 * gauss(),
                0.9 + 0.09 * rand(),
            )
            yield GeneratedRecord(meter.meter_id.encode(), value, label, timestamp)
            index += 1
