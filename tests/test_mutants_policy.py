"""The probability floor, the sampled action and the probability that is logged and learned, by hand.

Written against the mutants mutmut left alive in bandit/policies/base.py (docs/testing.md). A policy with a
FIXED pmf (a test subclass) makes every expected number known in advance: the floor's mixing weight is
worked out in the comments, the sampling frequencies must match the pmf, and the logged row is read back
with plain sqlite3 and compared with the pmf we chose, not with the Decision the policy returned.
"""
from __future__ import annotations

import json
import re
import sqlite3

import numpy as np
import pytest

from bandit import BanditError, apply_floor
from bandit.policies.base import Policy

SECRET = "mutant-tests-secret-0123"
ACTIONS = [{"id": "a", "features": {"x": 1.0}}, {"id": "b", "features": {"x": 2.0}},
           {"id": "c", "features": {"x": 3.0}}]


class FixedPolicy(Policy):
    """Scores every context with the same pmf; records what it is asked to learn."""

    name = "fixed"

    def __init__(self, pmf, **kw):
        self.fixed = list(pmf)
        self.updates: list[tuple[int, float, float]] = []
        super().__init__(**kw)

    def _pmf(self, prepared, entries):
        return np.array(self.fixed[: len(entries)])

    def _update(self, prepared, entries, index, reward01, probability):
        self.updates.append((index, reward01, probability))


def test_floor_mixes_in_just_enough_uniform():
    # low 0.0 < floor 0.05: w = (0.05 - 0) / (1/3 - 0) = 0.15, keep 0.85, add 0.05
    assert apply_floor([0.9, 0.1, 0.0], 0.05) == pytest.approx([0.85 * 0.9 + 0.05, 0.85 * 0.1 + 0.05, 0.05], abs=1e-15)
    # low 0.02: w = (0.05 - 0.02) / (0.25 - 0.02) = 0.3/2.3; the lowest lands exactly on the floor
    w = 0.03 / 0.23
    out = apply_floor([0.5, 0.3, 0.18, 0.02], 0.05)
    assert out == pytest.approx([(1 - w) * p + w / 4 for p in (0.5, 0.3, 0.18, 0.02)], abs=1e-15)
    assert min(out) == pytest.approx(0.05, abs=1e-15) and sum(out) == pytest.approx(1.0, abs=1e-15)


def test_floor_leaves_a_pmf_already_above_it_alone():
    # exact binary fractions: the lowest is exactly on the floor, nothing is mixed in
    assert apply_floor([0.5, 0.375, 0.125], 0.125) == [0.5, 0.375, 0.125]
    assert apply_floor([0.5, 0.375, 0.125], 0.0) == [0.5, 0.375, 0.125]


def test_floor_renormalizes_scores_in_double():
    assert apply_floor([1.0, 3.0], 0.0) == [0.25, 0.75]
    assert apply_floor(np.array([0.2, 0.6], dtype=np.float32), 0.0) == pytest.approx([0.25, 0.75], abs=1e-7)
    out = apply_floor(np.array([0.25, 0.75]), 0.0)
    assert type(out) is list and all(type(p) is float for p in out)


def test_negative_scores_count_as_zero():
    # [-0.5, 0.5, 0.5] -> [0, 0.5, 0.5]; floor 0.1: w = 0.1 / (1/3) = 0.3, keep 0.7, add 0.1
    assert apply_floor([-0.5, 0.5, 0.5], 0.1) == pytest.approx([0.1, 0.45, 0.45], abs=1e-15)
    assert apply_floor([-1.0, 1.0], 0.0) == [0.0, 1.0]


def test_no_usable_scores_give_uniform():
    assert apply_floor([0.0, 0.0, 0.0], 0.0) == [1 / 3] * 3
    assert apply_floor([float("nan"), 1.0], 0.0) == [0.5, 0.5]
    assert apply_floor([-1.0, -2.0], 0.0) == [0.5, 0.5]


def test_a_floor_above_uniform_is_capped_at_uniform():
    assert apply_floor([0.7, 0.3], 0.6) == pytest.approx([0.5, 0.5], abs=1e-15)
    assert apply_floor([0.7, 0.2, 0.1], 0.5) == pytest.approx([1 / 3] * 3, abs=1e-15)


def test_rank_samples_the_floored_pmf_and_logs_its_entry(tmp_path):
    # pmf [0.7, 0.3, 0.0] with floor 0.06: w = 0.06 / (1/3) = 0.18 -> [0.594, 0.266, 0.06]
    expected = [0.82 * 0.7 + 0.06, 0.82 * 0.3 + 0.06, 0.06]
    path = tmp_path / "events.db"
    policy = FixedPolicy([0.7, 0.3, 0.0], min_probability=0.06, exploration_budget=None, seed=5, log=path, secret=SECRET)
    n = 6000
    decisions = [policy.rank({"user": {"d": "tv"}}, ACTIONS, now=float(t)) for t in range(n)]
    policy.close()
    counts = np.bincount([d.index for d in decisions], minlength=3)
    # binomial sd of each count < sqrt(6000 * 0.25) = 39: allow 4 sd
    assert np.all(np.abs(counts - n * np.array(expected)) < 4 * 39), counts
    for d in decisions[:50]:
        assert d.pmf == pytest.approx(expected, abs=1e-15)
        assert d.probability == pytest.approx(expected[d.index], abs=1e-15)
        assert d.action_id == "abc"[d.index]
        assert [a for a, _ in d.ranking] == [d.action_id] + [a for a in "abc" if a != d.action_id]
    db = sqlite3.connect(str(path))
    rows = db.execute("SELECT event_id, pmf, chosen_index, action_id, probability FROM events ORDER BY seq").fetchall()
    db.close()
    assert [r[0] for r in rows] == [d.event_id for d in decisions]
    for _, pmf, index, action_id, probability in rows:
        assert json.loads(pmf) == pytest.approx(expected, abs=1e-15)
        assert probability == pytest.approx(expected[index], abs=1e-15) and action_id == "abc"[index]
    assert np.bincount([r[2] for r in rows], minlength=3).tolist() == counts.tolist()


def test_the_ranking_follows_the_floored_pmf():
    policy = FixedPolicy([0.1, 0.6, 0.3], min_probability=0.0, seed=0)
    d = policy.rank({}, ACTIONS, now=0.0)
    assert [a for a, _ in d.ranking] == [d.action_id] + [a for a in ["b", "c", "a"] if a != d.action_id]
    assert [p for _, p in d.ranking[1:]] == sorted((p for _, p in d.ranking[1:]), reverse=True)


def test_rank_reaches_the_last_action():
    policy = FixedPolicy([0.0, 0.0, 1.0], min_probability=0.0, seed=1)
    assert {policy.rank({}, ACTIONS, now=0.0).index for _ in range(20)} == {2}


def test_the_sampled_probability_is_what_the_reward_teaches():
    policy = FixedPolicy([0.7, 0.3, 0.0], min_probability=0.06, exploration_budget=None, seed=2, reward_range=(-1.0, 1.0),
                         default_reward=-1.0, reward_wait_s=10.0)
    expected = [0.82 * 0.7 + 0.06, 0.82 * 0.3 + 0.06, 0.06]
    d1 = policy.rank({}, ACTIONS, now=0.0)
    d2 = policy.rank({}, ACTIONS, now=1.0)
    policy.reward(d1.event_id, 0.5, now=2.0)
    policy.expire(now=100.0)  # d2 learns the default reward -1, i.e. 0 on [0, 1]
    assert policy.updates == [(d1.index, pytest.approx(0.75), pytest.approx(expected[d1.index], abs=1e-15)),
                              (d2.index, 0.0, pytest.approx(expected[d2.index], abs=1e-15))]


def test_learn_checks_the_logged_probability():
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0)
    policy.learn({}, ACTIONS, 2, 1.0, 1.0)  # p = 1 is a valid (deterministic) logging probability
    policy.learn({}, ACTIONS, 0, 0.0, 1e-9)
    assert policy.updates == [(2, 1.0, 1.0), (0, 0.0, 1e-9)] and policy.n_learned == 2
    for bad in (0.0, -0.1, 1.0 + 1e-9, float("nan")):
        with pytest.raises(BanditError, match=r"^probability must be in \(0, 1\], got "):
            policy.learn({}, ACTIONS, 0, 1.0, bad)
    for index in (-1, 3):
        with pytest.raises(BanditError, match=f"^chosen_index {index} out of range for 3 actions$"):
            policy.learn({}, ACTIONS, index, 1.0, 0.5)
    assert policy.n_learned == 2


def test_a_draw_above_the_rounded_cumulative_pmf_takes_the_last_action():
    # these twelve scores, renormalized, add up to 0.9999999999999998 in floating point: a uniform draw
    # of 1 - 2**-53 lies above every cumulative sum and must still give a valid (the last) action
    scores = [0.2034146857749588, 0.7673483420763234, 0.7886482900098098, 0.1582086298273846,
              0.16195407019788421, 0.5294742230377147, 0.11721284387105246, 0.9214183944636138,
              0.6656058220179341, 0.01320375853497835, 0.6812806756042346, 0.9000980523907597]
    actions = [{"id": f"v{i}", "features": {"x": float(i)}} for i in range(12)]
    policy = FixedPolicy(scores, min_probability=0.0)
    policy._rng = type("TopDraw", (), {"random": staticmethod(lambda: 1.0 - 2.0 ** -53)})()
    d = policy.rank({}, actions, now=0.0)
    assert (d.index, d.action_id) == (11, "v11")
    assert d.probability == pytest.approx(scores[11] / sum(scores), rel=1e-12)


def test_generated_event_ids_are_32_lowercase_hex_digits():
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0)
    ids = [policy.rank({}, ACTIONS, now=0.0).event_id for _ in range(40)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    assert len(set(ids)) == 40


def test_caller_event_ids_must_be_non_empty_strings():
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0)
    for bad in ("", 7, b"e1"):
        with pytest.raises(BanditError, match=r"^event_id must be a non-empty string, got "):
            policy.rank({}, ACTIONS, event_id=bad, now=0.0)
    assert policy.pending_count == 0


def test_the_context_schema_accumulates_feature_names():
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0)
    policy.rank({"user": {"device": "tv"}}, ACTIONS, now=0.0)
    policy.rank({"user": {"age": 30}, "time": {"hour": 20}}, ACTIONS, now=1.0)
    assert policy.feature_schema()["context"] == {"time": ["hour"], "user": ["age", "device"]}


def test_learn_names_the_bad_reward():
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0)
    with pytest.raises(BanditError, match=r"^reward 2\.0 is outside the reward range \[0\.0, 1\.0\]$"):
        policy.learn({}, ACTIONS, 0, 2.0, 0.5)


def test_learn_wants_an_integer_index_and_a_numeric_probability():
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0)
    for bad in (True, 1.0, "1"):
        with pytest.raises(BanditError, match=f"^chosen_index must be an integer, got {re.escape(repr(bad))}$"):
            policy.learn({}, ACTIONS, bad, 1.0, 0.5)
    policy.learn({}, ACTIONS, np.int64(1), 1.0, np.float32(0.5))  # numpy scalars are numbers
    for bad in ("0.5", None, True):
        with pytest.raises(BanditError, match=f"^probability must be a number, got {re.escape(repr(bad))}$"):
            policy.learn({}, ACTIONS, 0, 1.0, bad)
    assert policy.updates == [(1, 1.0, 0.5)]


def logged(path, column: str) -> list:
    db = sqlite3.connect(str(path))
    try:
        return [r[0] for r in db.execute(f"SELECT {column} FROM events ORDER BY seq")]
    finally:
        db.close()


def test_rank_refuses_an_event_id_an_earlier_run_logged(tmp_path):
    path = tmp_path / "events.db"
    first = FixedPolicy([0.5, 0.5, 0.0], seed=0, log=path, secret=SECRET)
    first.rank({}, ACTIONS, event_id="e1", now=0.0)
    first.reward("e1", 1.0, now=0.5)  # closed: a new run does not reclaim it, only the log knows it
    first.close()
    again = FixedPolicy([0.5, 0.5, 0.0], seed=0, log=path, secret=SECRET)
    with pytest.raises(BanditError, match="^event id 'e1' was already used$"):
        again.rank({}, ACTIONS, event_id="e1", now=1.0)
    again.close()
    assert logged(path, "event_id") == ["e1"]


def test_the_logged_user_is_a_keyed_hash_of_the_user_id(tmp_path):
    path = tmp_path / "events.db"
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0, log=path, secret=SECRET)
    for user in ("alice", "alice", "bob", None):
        policy.rank({}, ACTIONS, user_id=user, now=0.0)
    policy.close()
    a1, a2, b, none = logged(path, "user")
    assert a1 == a2 and a1 != b and none is None
    assert "alice" not in a1 and "bob" not in b and len(a1) >= 16
    other = tmp_path / "other.db"
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0, log=other, secret="another secret, 16+ bytes")
    policy.rank({}, ACTIONS, user_id="alice", now=0.0)
    policy.close()
    assert logged(other, "user") != [a1]


def test_a_nested_context_value_is_refused_before_anything_is_logged(tmp_path):
    path = tmp_path / "events.db"
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0, log=path, secret=SECRET)
    with pytest.raises(BanditError):
        policy.rank({"user": {"x": {"nested": 1}}}, ACTIONS, now=0.0)
    policy.close()
    assert logged(path, "event_id") == [] and policy.pending_count == 0


def test_the_personalizer_logs_the_context_it_ranked(tmp_path):
    from bandit import make_policy

    path = tmp_path / "events.db"
    policy = make_policy("vw", seed=0, log=path, secret=SECRET)
    context = {"user": {"device": "tv", "age": 30}, "time": {"hour": 20}}
    d = policy.rank(context, ACTIONS, now=0.0)
    policy.close()
    assert [json.loads(c) for c in logged(path, "context")] == [context]
    assert logged(path, "probability") == [pytest.approx(d.pmf[d.index])]


def test_each_decision_logs_its_own_candidate_set(tmp_path):
    path = tmp_path / "events.db"
    policy = FixedPolicy([0.5, 0.5, 0.0], seed=0, log=path, secret=SECRET)
    policy.rank({}, ACTIONS, now=0.0)
    policy.rank({}, ACTIONS[:2], now=1.0)
    policy.rank({}, ACTIONS, now=2.0)
    policy.close()
    db = sqlite3.connect(str(path))
    sets = [json.loads(r[0]) for r in db.execute(
        "SELECT s.actions FROM events e JOIN action_sets s ON s.id = e.action_set ORDER BY e.seq")]
    db.close()
    assert [[a["id"] for a in s] for s in sets] == [["a", "b", "c"], ["a", "b"], ["a", "b", "c"]]
    assert sets[1] == [{"id": "a", "features": {"x": 1.0}}, {"id": "b", "features": {"x": 2.0}}]
