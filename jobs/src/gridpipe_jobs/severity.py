"""Severity classification, as data: the SQL the job runs is generated from these tables (docs/detection.md)."""

from __future__ import annotations

from dataclasses import dataclass

# Grid: the size of the deviation in standard deviations, whatever the pipeline's threshold k. A deviation only
# reaches these bands once it exceeds k, so with k = 2.5 the mildest anomaly is INFO, with k = 4 it is WARNING.
GRID_SIGMA_BANDS: tuple[tuple[float, str], ...] = ((6.0, "CRITICAL"), (4.5, "ERROR"), (3.0, "WARNING"))
GRID_DEFAULT_SEVERITY = "INFO"
EQUIPMENT_FAILURE_SEVERITY = "CRITICAL"


def grid_severity(deviation_sigma: float) -> str:
    size = abs(deviation_sigma)
    return next((name for floor, name in GRID_SIGMA_BANDS if size >= floor), GRID_DEFAULT_SEVERITY)


@dataclass(frozen=True)
class RocketBand:
    """Within a rule's range: values beyond ``above`` (or below ``below``) get ``severity``; first match wins."""

    severity: str
    above: float | None = None
    below: float | None = None


# The rocket PRD, section 6. Per parameter: bands checked in order, then the rule's default severity.
ROCKET_SEVERITY: dict[str, tuple[tuple[RocketBand, ...], str]] = {
    "thrust": ((), "critical"),  # engine shutdown
    "activeAnomalies": ((RocketBand("critical", above=2.5), RocketBand("medium", above=1.5)), "low"),
    "fuelLeakRate": ((RocketBand("high", above=150.0),), "medium"),  # critical above 150, moderate below
    "engineTemp": ((RocketBand("high", above=3700.0),), "low"),
    "guidanceError": ((RocketBand("high", above=5.0),), "low"),
    "engineEfficiency": ((RocketBand("medium", below=60.0),), "low"),
    "sensorNoise": ((), "medium"),  # sensor malfunction
    "burnRate": ((), "medium"),  # a fuel-system leak: as a moderate fuel leak
}
# Three or more rules firing on one message is "multiple concurrent anomalies": every alert of it is critical.
CONCURRENT_CRITICAL = 3


def rocket_severity(parameter: str, value: float, total_anomalies: int) -> str:
    if total_anomalies >= CONCURRENT_CRITICAL:
        return "critical"
    bands, default = ROCKET_SEVERITY[parameter]
    for band in bands:
        if (band.above is not None and value > band.above) or (band.below is not None and value < band.below):
            return band.severity
    return default
