"""The plain-Python reference of the ZSCORE rule, against exact rational arithmetic."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction

import pytest

from jobtesting import RELATIVE_STDDEV_FLOOR, ReferenceZScore, reference_zscore

pytestmark = pytest.mark.unit
WINDOW_MS = 300_000
BUCKET_MS = 10_000


def _rule(window_ms: int = WINDOW_MS) -> ReferenceZScore:
    return ReferenceZScore(k=2.5, min_samples=30, window_ms=window_ms, bucket_ms=BUCKET_MS)


def test_a_meter_steady_at_a_value_binary_cannot_represent_raises_no_alert_on_its_next_change() -> None:
    # 230.1 V sixty times has a true stddev of 0; sums of squares made it 4e-6, and 230.2 V a 25,170-sigma alert.
    events = [("m", 1_000_000 + i * 1000, 230.1) for i in range(60)] + [("m", 1_060_000, 230.2)]
    assert reference_zscore(events, k=2.5, min_samples=30, window_ms=WINDOW_MS, bucket_ms=BUCKET_MS) == []


def test_an_ordinary_outlier_still_alerts() -> None:
    events = [("m", i * 1000, 230.0 + (i % 3) / 10) for i in range(60)] + [("m", 60_000, 235.0)]
    (verdict,) = reference_zscore(events, k=2.5, min_samples=30, window_ms=WINDOW_MS, bucket_ms=BUCKET_MS)
    assert verdict.time_ms == 60_000 and verdict.samples == 60


def test_a_late_reading_is_counted_not_judged() -> None:
    rule = _rule()
    for i in range(60):
        assert rule.judge("m", 1_000_000 + i * 1000, 230.0 + (i % 3) / 10) is None
    newest = 1_059_000
    assert rule.judge("m", newest - WINDOW_MS - 1, 1000.0) is None
    assert rule.late == 1
    assert rule.window_before("m", newest + 1).count == 60, "not added either"
    assert rule.judge("m", newest - WINDOW_MS, 230.0) is None and rule.late == 1, "exactly newest - window is on time"


def test_a_constant_window_has_no_spread_whatever_its_value() -> None:
    generator = random.Random(7)
    for _ in range(200):
        value = generator.randrange(5000) / 10 if generator.random() < 0.5 else generator.uniform(-1e6, 1e6)
        rule = _rule()
        for i in range(300):
            rule.judge("m", i * 1000, value)
        stats = rule.window_before("m", 300_000)
        assert (stats.count, stats.mean, stats.stddev, stats.has_spread) == (300, value, 0.0, False)


def _exact(values: list[float]) -> tuple[Fraction, Fraction]:
    """Mean and sample variance of the exact binary values (sums of dyadic fractions stay small and quick)."""
    exact = [Fraction(x) for x in values]
    total = sum(exact, Fraction(0))
    squares = sum((x * x for x in exact), Fraction(0))
    return total / len(exact), (squares - total * total / len(exact)) / (len(exact) - 1)


CASES: dict[str, tuple[Callable[[random.Random], float], int, int]] = {
    # name: (value, window ms, step ms)
    "multiples of 0.1": (lambda g: g.randrange(2250, 2351) / 10, WINDOW_MS, 1000),
    "a few 0.1 steps": (lambda g: 230.0 + g.randrange(3) / 10, WINDOW_MS, 1000),
    "230 +/- 1e-9": (lambda g: 230.0 + g.uniform(-1e-9, 1e-9), WINDOW_MS, 1000),
    "1e6 + noise": (lambda g: 1e6 + g.gauss(0, 1), WINDOW_MS, 1000),
    "1e6 + 1e-3 noise": (lambda g: 1e6 + g.gauss(0, 1e-3), WINDOW_MS, 1000),
    "30 min of 1 s readings": (lambda g: 230.0 + g.gauss(0, 2), 1_800_000, 1000),
    "24 h of 1 min readings": (lambda g: 0.1 * g.randrange(2300, 2305), 86_400_000, 60_000),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_window_statistics_match_exact_arithmetic(case: str) -> None:
    value, window_ms, step_ms = CASES[case]
    generator = random.Random(case)
    for _ in range(5):
        rule = _rule(window_ms)
        start = BUCKET_MS * generator.randrange(1000)  # bucket-aligned: the whole series is in the window
        values = [value(generator) for _ in range(window_ms // step_ms)]
        for i, x in enumerate(values):
            rule.judge("m", start + i * step_ms, x)
        stats = rule.window_before("m", start + len(values) * step_ms)
        mean, variance = _exact(values)
        stddev = math.sqrt(variance)  # the float nearest the exact root, within an ulp of it
        assert stats.count == len(values)
        assert abs(stats.mean - float(mean)) <= 4 * math.ulp(float(mean))
        # Within one ulp of the mean: at the floor (1e-9 |mean|) a relative error of 2.2e-7 at most.
        assert abs(stats.stddev - stddev) <= stddev * 1e-9 + math.ulp(float(mean)), (case, stats, stddev)
        assert stats.has_spread == (stddev > RELATIVE_STDDEV_FLOOR * abs(float(mean)))
