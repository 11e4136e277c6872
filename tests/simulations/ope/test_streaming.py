"""Streaming estimators: the same numbers as the whole-array estimators, with state that does not grow."""

from __future__ import annotations

import numpy as np
import pytest

from simulations.ope import replay_log, streaming
from simulations.ope.estimators import OPEArrays, cumulative_curve, estimate
from simulations.ope.streaming import PolicyStream, RatioStream
from tests.replay_helpers import make_world, simulate_log, write_jsonl


def _arrays(n: int, seed: int = 0) -> OPEArrays:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 1.0, n)
    return OPEArrays(
        reward=(rng.random(n) < 0.3).astype(float) * 1e3 + 5e3,  # large mean: no cancellation
        logged_p=p,
        target_p=rng.uniform(0, 1, n),
        matched=rng.random(n) < 0.4,
        zero_support=rng.random(n) * (rng.random(n) < 0.1),
        n_candidates=np.full(n, 3),
    )


def _feed(data: OPEArrays, batch: int, **kw) -> PolicyStream:
    stream = PolicyStream(["replay", "ips", "snips"], **kw)
    for s in range(0, len(data.reward), batch):
        cut = slice(s, s + batch)
        stream.add(
            OPEArrays(
                data.reward[cut],
                data.logged_p[cut],
                data.target_p[cut],
                data.matched[cut],
                zero_support=data.zero_support[cut],
                n_candidates=data.n_candidates[cut],
            )
        )
    return stream


@pytest.mark.parametrize("batch", [1, 7, 1000, 50_000])
def test_streamed_estimates_equal_the_whole_array_estimates(batch):
    data = _arrays(20_000)
    stream = _feed(data, batch)
    for name in ("replay", "ips", "snips"):
        whole = estimate(name, data).to_dict()
        got = stream.estimate(name, 0.95, 0).to_dict()
        for key in ("value", "low", "high", "stderr"):
            assert got[key] == pytest.approx(whole[key], rel=1e-12), (name, key)
        assert got["diagnostics"] == pytest.approx(whole["diagnostics"], rel=1e-12)
        assert got["warnings"] == whole["warnings"] and got["interval"] == "asymptotic"
        # the curve's points are the same floats np.cumsum gives over the whole log, ending at n
        ks, vals = stream.streams[name].curve()
        assert ks[-1] == 20_000 and len(ks) <= 101
        ref_k, ref_v = cumulative_curve(name, data, points=20_000)  # every k
        assert vals == [ref_v[k - 1] for k in ks]


def test_bootstrap_keeps_terms_and_equals_the_whole_array_bootstrap():
    data = _arrays(3000, seed=1)
    stream = _feed(data, 700, bootstrap=50)
    got = stream.estimate("snips", 0.9, 4).to_dict()
    whole = estimate("snips", data, confidence=0.9, bootstrap=50, seed=4).to_dict()
    assert (got["value"], got["low"], got["high"], got["stderr"]) == pytest.approx(
        (whole["value"], whole["low"], whole["high"], whole["stderr"]), rel=1e-12
    )
    assert got["interval"] == "bootstrap"


def test_state_does_not_grow_with_the_number_of_events():
    """Retained numbers (not RSS): the same for 10^3 and 10^6 events fed in batches of 1000."""
    sizes = {}
    for n in (1_000, 1_000_000):
        stream = PolicyStream(["replay", "ips", "snips"], points=100)
        rng = np.random.default_rng(n)
        peak = 0
        for _ in range(n // 1000):
            p = rng.uniform(0.1, 1, 1000)
            stream.add(
                OPEArrays(
                    rng.random(1000),
                    p,
                    np.full(1000, 0.5),
                    rng.random(1000) < 0.5,
                    zero_support=np.zeros(1000),
                    n_candidates=np.full(1000, 2),
                )
            )
            peak = max(peak, stream.retained())
        sizes[n] = peak
        assert stream.n == n
    # checkpoints: at most 2 * points + 1 per estimator, whatever the log size
    assert sizes[1_000_000] <= 26 + 3 * (14 + 3 * 201)
    assert sizes[1_000] <= sizes[1_000_000]
    one = RatioStream(points=10)
    for _ in range(5000):
        one.add(np.ones(3), np.ones(3))
        assert len(one.checkpoints) <= 21
    assert one.curve()[0][-1] == 15_000 and len(one.curve()[0]) <= 11


def test_evaluate_log_keeps_no_per_event_arrays(tmp_path, monkeypatch):
    """The whole replay on 2k and 20k events: its estimator state at the end is the same size."""
    world = make_world(seed=2)
    seen: dict[int, int] = {}
    real_result = streaming.PolicyStream.result

    def spy(self, confidence, seed):
        seen[self.n] = max(seen.get(self.n, 0), self.retained())
        return real_result(self, confidence, seed)

    monkeypatch.setattr(streaming.PolicyStream, "result", spy)
    for n in (2000, 20_000):
        log = simulate_log(world, n, "softmax", 1)
        path = write_jsonl(tmp_path / f"log{n}.jsonl", log, world)
        replay_log(path, ["uniform", "best-fixed", "logged"], ["ips", "snips", "replay"], chunk_size=500)
    assert set(seen) == {2000, 20_000}
    assert seen[20_000] <= 12 + 3 * (14 + 3 * 201)
