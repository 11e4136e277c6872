"""Page-Hinkley (bandit.drift) against streams with known change points, and in evaluate's report."""
from __future__ import annotations

import numpy as np

from bandit.drift import PageHinkley, change_points


def _stream(seed: int, before: float, after: float, n: int = 60_000, at: int = 30_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.random(at) < before, rng.random(n - at) < after].astype(float)


def test_drops_are_found_within_a_bounded_number_of_events_after_the_change() -> None:
    for seed in range(3):
        for before, after in ((0.10, 0.06), (0.50, 0.40), (0.17, 0.10)):
            found = [i for i, kind in change_points(_stream(seed, before, after)) if kind == "drop" and i >= 30_000]
            assert found, (seed, before, after)
            assert found[0] - 30_000 <= 2500, (seed, before, after, found[0])


def test_a_stationary_stream_raises_at_most_one_false_alarm_per_100k_events() -> None:
    alarms = 0
    for seed in range(3):
        for p in (0.03, 0.1, 0.5):
            rng = np.random.default_rng(100 + seed)
            alarms += len(change_points((rng.random(100_000) < p).astype(float)))
    assert alarms <= 2  # 900k events; measured: about one alarm per 450k events


def test_a_rise_is_reported_as_a_rise_and_the_detector_restarts() -> None:
    det = PageHinkley()
    kinds = [det.update(x) for x in _stream(7, 0.05, 0.12)]
    assert "rise" in kinds and "drop" not in kinds[:30_000]
    assert det.n < 30_000  # restarted at the alarm
