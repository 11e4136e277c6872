"""Behaviour of the bandit policies: learning, propensities, save/load, delayed rewards, bad rewards.

The probability floor, the sampled action and the probability that is logged and learned, by hand.

Written against the mutants mutmut left alive in bandit/policies/base.py (docs/testing.md). A policy with a
FIXED pmf (a test subclass) makes every expected number known in advance: the floor's mixing weight is
worked out in the comments, the sampling frequencies must match the pmf, and the logged row is read back
with plain sqlite3 and compared with the pmf we chose, not with the Decision the policy returned.

Policy.replay_step: the same pmf as predict, and learning through it equals learn().

Nothing learned is lost: restarts recover pending events, commits happen on time and at exit,
a SIGKILLed writer's events still take their late rewards.

Memory follows what is pending: rewarded events leave the expiry queue, caches are bounded by size.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import bandit
import tests
from bandit import (
    BanditError,
    DuplicateRewardError,
    EventLog,
    ExpiredEventError,
    InvalidRewardError,
    UnknownEventError,
    VWPolicy,
    apply_floor,
    features as bandit_features,
    make_policy,
    vwformat,
)
from bandit.policies.base import Policy
from bandit.sampling import floor_for
from tests.bandit_helpers import Stream, make_actions, run

SECRET = "test-secret-0123456789"


def test_vw_personalizes_and_beats_uniform_and_per_title_ts():
    n = 3000
    vw = run(make_policy("vw", seed=3, secret=SECRET), n)
    uniform = run(make_policy("uniform", seed=3, secret=SECRET), n)
    ts = run(make_policy("ts-per-title", seed=3, secret=SECRET), n)
    # best achievable CTR is 0.6; uniform is 0.6*2/8 + 0.1*6/8 = 0.225
    assert abs(uniform - 0.225) < 0.03
    assert vw > uniform + 0.25
    assert vw > ts + 0.2
    assert vw > 0.5


def test_without_user_action_interactions_the_policy_cannot_personalize():
    n = 3000
    with_q = run(VWPolicy(seed=3, secret=SECRET), n)
    without_q = run(VWPolicy(seed=3, secret=SECRET, interactions=()), n)
    assert with_q > without_q + 0.15


@pytest.mark.parametrize(
    "spec", ["vw:squarecb", "vw:epsilon", "vw:softmax", "vw:bag", "vw:cover", "uniform", "ts-per-title", "linucb"]
)
def test_logged_probability_is_the_pmf_entry_and_respects_the_floor(spec):
    floor = 0.02
    policy = make_policy(spec, seed=1, secret=SECRET, min_probability=floor)
    stream = Stream(1)
    actions = make_actions()
    rng = np.random.default_rng(5)
    lowest = 1.0
    for t in range(400):
        user_id, context, click_p = stream.next()
        d = policy.rank(context, actions, user_id=user_id, now=float(t))
        assert d.probability == d.pmf[d.index]
        assert d.action_id == actions[d.index]["id"]
        assert math.isclose(sum(d.pmf), 1.0, rel_tol=1e-9)
        assert d.ranking[0] == (d.action_id, d.probability)  # the chosen action first, as Personalizer
        assert [p for _, p in d.ranking[1:]] == sorted((p for _, p in d.ranking[1:]), reverse=True)
        lowest = min(lowest, min(d.pmf))
        policy.reward(d.event_id, float(rng.random() < click_p[d.index]), now=float(t))
    # 2% per candidate, lowered to the exploration budget's share of the decision (5% / 8 actions)
    assert policy.exploration_budget == 0.05
    assert lowest >= floor_for(len(actions), floor, 0.05) - 1e-12 == 0.00625 - 1e-12


def test_floor_is_applied_to_vw_squarecb():
    # without the floor squarecb drives losing actions towards 0 (IPS weights would explode)
    policy = VWPolicy(seed=3, secret=SECRET, min_probability=0.0)
    run(policy, 2000)
    _, context, _ = Stream(9).next()
    raw_min = policy.predict(context, make_actions()).min()
    floored = VWPolicy(seed=3, secret=SECRET, min_probability=0.03, exploration_budget=None)  # 3% each
    run(floored, 2000)
    assert raw_min < 0.03
    assert floored.predict(context, make_actions()).min() >= 0.03 - 1e-12


def test_predict_changes_nothing():
    a = make_policy("vw", seed=2, secret=SECRET)
    b = make_policy("vw", seed=2, secret=SECRET)
    stream = Stream(2)
    actions = make_actions()
    for t in range(300):
        user_id, context, _ = stream.next()
        a.predict(context, actions)  # only a calls predict, before and between rank and reward
        da = a.rank(context, actions, now=float(t))
        a.predict(context, actions)
        db = b.rank(context, actions, now=float(t))
        assert da.pmf == db.pmf and da.index == db.index
        a.reward(da.event_id, float(da.index % 3 == 0), now=float(t))
        b.reward(db.event_id, float(db.index % 3 == 0), now=float(t))


def test_same_seed_same_run_and_different_seed_differs():
    def trace(seed, **ids):
        p = make_policy("vw", seed=seed, secret=SECRET, **ids)
        stream = Stream(0)
        out = []
        for t in range(200):
            _, context, click_p = stream.next()
            d = p.rank(context, make_actions(), now=float(t))
            out.append((d.event_id, d.index, tuple(d.pmf)))
            p.reward(d.event_id, float(click_p[d.index] > 0.5), now=float(t))
        return out

    assert trace(4, id_seed=4) == trace(4, id_seed=4)
    assert trace(4, id_seed=4) != trace(5, id_seed=4)
    # event ids are random 128-bit values unless a seed for ids is asked for: same decisions, new ids
    a, b = trace(4), trace(4)
    assert [x[1:] for x in a] == [x[1:] for x in b]
    assert not {x[0] for x in a} & {x[0] for x in b} and len({x[0] for x in a}) == 200
    assert all(len(x[0]) == 32 and int(x[0], 16) >= 0 for x in a)


def _continue(policy, stream, start, n):
    out = []
    for t in range(start, start + n):
        _, context, click_p = stream.next()
        d = policy.rank(context, make_actions(), now=float(t))
        out.append((d.event_id, d.index, d.pmf))
        if t % 3:
            policy.reward(d.event_id, float(click_p[d.index] > 0.5), now=float(t))
    return out


@pytest.mark.parametrize(
    "exploration",
    [
        "squarecb",
        pytest.param(
            "bag",
            marks=pytest.mark.xfail(
                reason="VW's bagging draws its bootstrap weights from a random state that -i does not restore: a "
                "loaded bag model diverges on 10 of seeds 0-11 (also before the exploration budget; seed 7 "
                "happened to pass)",
                strict=False,
            ),
        ),
    ],
)
def test_save_load_continues_identically(tmp_path, exploration):
    original = VWPolicy(exploration, seed=7, secret=SECRET, reward_wait_s=5.0)
    stream = Stream(7)
    _continue(original, stream, 0, 300)
    assert original.pending_count > 0  # some events still wait for their reward
    learned_at_save = original.n_learned
    original.save(tmp_path / "model")
    original.save(tmp_path / "model")  # overwriting an existing model folder is atomic too
    loaded = VWPolicy.load(tmp_path / "model", secret=SECRET)
    assert loaded.n_learned == original.n_learned
    assert loaded.pending_count == original.pending_count
    state = stream.rng.bit_generator.state
    a = _continue(original, stream, 300, 200)
    stream.rng.bit_generator.state = state
    b = _continue(loaded, stream, 300, 200)
    assert [x[1:] for x in a] == [x[1:] for x in b]  # same decisions (event ids are random)
    meta = bandit.policies.model_io.read_metadata(tmp_path / "model")
    assert meta["events_learned"] == learned_at_save > 0
    assert "--cb_explore_adf" in meta["vw_args"] and "--interactions cA" in meta["vw_args"]
    assert meta["feature_schema"]["context"]["user"] == ["device", "segment"]
    assert "brightness" in meta["feature_schema"]["actions"]
    assert meta["artbandit_version"]


def test_load_rejects_bad_folders_and_fixed_options(tmp_path):
    with pytest.raises(BanditError, match="no such model folder"):
        VWPolicy.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BanditError, match="not an artbandit model"):
        VWPolicy.load(tmp_path / "empty")
    VWPolicy(seed=1).save(tmp_path / "m")
    with pytest.raises(BanditError, match="fixed by the saved model"):
        VWPolicy.load(tmp_path / "m", exploration="cover")


def test_delayed_rewards_learn_when_final_and_expiry_gives_the_default():
    p = VWPolicy(seed=0, secret=SECRET, reward_wait_s=10.0, default_reward=0.0)
    _, context, _ = Stream(0).next()
    actions = make_actions()
    d1 = p.rank(context, actions, now=0.0)
    d2 = p.rank(context, actions, now=1.0)
    assert p.n_learned == 0 and p.pending_count == 2
    p.reward(d2.event_id, 1.0, now=8.0)  # late but inside the window: first-wins learns at once
    assert p.n_learned == 1 and p.pending_count == 1
    assert p.expire(now=10.0) == 0  # d1's window ends at 10.0 (inclusive)
    assert p.expire(now=10.5) == 1  # closed with the default reward
    assert p.n_learned == 2 and p.pending_count == 0
    with pytest.raises(ExpiredEventError):
        p.reward(d1.event_id, 1.0, now=11.0)
    # a reward arriving after the window closes is expired even without an explicit expire()
    d3 = p.rank(context, actions, now=20.0)
    with pytest.raises(ExpiredEventError):
        p.reward(d3.event_id, 1.0, now=31.0)


def test_sum_aggregation_learns_the_clipped_total_when_the_window_closes(tmp_path):
    p = VWPolicy(seed=0, secret=SECRET, reward_wait_s=5.0, aggregation="sum", log=tmp_path / "e.sqlite")
    _, context, _ = Stream(0).next()
    d = p.rank(context, make_actions(), now=0.0)
    p.reward(d.event_id, 0.5, now=1.0)
    p.reward(d.event_id, 0.25, now=2.0)
    assert p.n_learned == 0
    d2 = p.rank(context, make_actions(), now=3.0)
    p.reward(d2.event_id, 0.75, now=3.0)
    p.reward(d2.event_id, 0.75, now=4.0)  # 1.5 is clipped to the top of the range
    assert p.expire(now=100.0) == 2 and p.n_learned == 2
    p.close()
    events = {e.event_id: e for e in bandit.EventLog(tmp_path / "e.sqlite", readonly=True).iter_events()}
    assert events[d.event_id].reward == 0.75 and not events[d.event_id].defaulted
    assert events[d.event_id].reward_time == 5.0
    assert events[d2.event_id].reward == 1.0


def test_every_bad_reward_is_rejected_with_a_clear_error():
    p = VWPolicy(seed=0, secret=SECRET, reward_wait_s=1.0, reward_range=(0.0, 1.0))
    _, context, _ = Stream(0).next()
    d = p.rank(context, make_actions(), now=0.0)
    with pytest.raises(UnknownEventError, match="unknown event"):
        p.reward("no-such-event", 1.0, now=0.0)
    for bad, pattern in [
        (float("nan"), "outside"),  # the range is finite, so its check refuses NaN and infinities
        (float("inf"), "outside"),
        (1.5, "outside"),
        (-0.1, "outside"),
        ("x", "number"),
        (None, "number"),
    ]:
        with pytest.raises(InvalidRewardError, match=pattern):
            p.reward(d.event_id, bad, now=0.0)
    assert p.pending_count == 1  # bad values change nothing
    p.reward(d.event_id, 1.0, now=0.5)
    with pytest.raises(DuplicateRewardError, match="already"):
        p.reward(d.event_id, 1.0, now=0.6)
    d2 = p.rank(context, make_actions(), now=0.0)
    p.expire(now=5.0)
    with pytest.raises(ExpiredEventError, match="window closed"):
        p.reward(d2.event_id, 0.0, now=5.0)
    assert all(
        issubclass(e, BanditError)
        for e in (UnknownEventError, ExpiredEventError, DuplicateRewardError, InvalidRewardError)
    )


def test_bad_inputs_raise_bandit_errors():
    p = make_policy("vw", secret=SECRET)
    _, context, _ = Stream(0).next()
    with pytest.raises(BanditError, match="unknown policy 'vw:regcbopt'"):
        make_policy("vw:regcbopt")
    with pytest.raises(BanditError, match="non-empty list"):
        p.rank(context, [])
    with pytest.raises(BanditError, match="'a' repeats"):
        p.rank(context, [{"id": "a", "features": {}}, {"id": "b", "features": {}}, {"id": "a", "features": {}}])
    with pytest.raises(BanditError, match="'a' repeats"):  # same id, other features
        p.rank(context, [{"id": "a", "features": {"x": 1.0}}, {"id": "a", "features": {"x": 2.0}}])
    with pytest.raises(BanditError, match="finite"):
        p.rank({"user": {"age": float("nan")}}, make_actions())
    with pytest.raises(BanditError, match="unsupported type"):
        p.rank({"user": {"tags": ["a"]}}, make_actions())
    with pytest.raises(BanditError, match="namespace"):
        p.rank({"user": 3}, make_actions())
    d = p.rank(context, make_actions(), event_id="fixed", now=0.0)
    assert d.event_id == "fixed"
    with pytest.raises(BanditError, match="already used"):
        p.rank(context, make_actions(), event_id="fixed", now=0.0)
    with pytest.raises(BanditError, match="reward_range"):
        make_policy("uniform", reward_range=(1.0, 0.0))
    with pytest.raises(BanditError, match="does not take|unexpected keyword"):
        make_policy("uniform", no_such_option=1)


def test_features_with_separators_and_allowlist():
    import json

    from bandit.features import context_json, context_line, escape

    ctx = {"user": {"city": 'New "York"', "n": 3, "x": 0.25}, "h": {}}
    for _ in range(2):  # second time from the cache
        assert json.loads(context_json(ctx)) == ctx

    assert escape("a b:c|d=e%") == "a%20b%3Ac%7Cd%3De%25"
    assert escape("a b") != escape("a_b")
    line = context_line({"user": {"city": "New York|NY", "x:y": 2, "ok": True}})
    assert line == "shared |c_user city=New%20York%7CNY x%3Ay:2 ok:1"
    p = VWPolicy(seed=0, secret=SECRET, context_allowlist=["user"])
    actions = [{"id": "a b|c", "features": {"style name": "dark:moody"}}, {"id": "x", "features": {}}]
    d = p.rank({"user": {"city": "New York"}, "secret": {"ssn": "123"}}, actions, now=0.0)
    assert p.feature_schema()["context"] == {"user": ["city"]}
    p.reward(d.event_id, 1.0, now=0.0)


def test_reward_range_is_mapped_to_costs():
    # rewards in [-1, 1]: the good action (reward 1) must win, the bad one (-1) must lose
    p = VWPolicy(seed=0, secret=SECRET, reward_range=(-1.0, 1.0), default_reward=0.0)
    actions = [{"id": "good", "features": {}}, {"id": "bad", "features": {}}, {"id": "meh", "features": {}}]
    values = {"good": 1.0, "bad": -1.0, "meh": 0.0}
    for t in range(300):
        d = p.rank({"u": {"x": 1.0}}, actions, now=float(t))
        p.reward(d.event_id, values[d.action_id], now=float(t))
    pmf = p.predict({"u": {"x": 1.0}}, actions)
    assert pmf[0] > 0.8 and pmf[1] < pmf[2] + 0.05


def test_learn_off_policy_warm_start_matches_online_learning():
    # learn() from logged events gives the same model as learning while ranking
    online = VWPolicy(seed=0, secret=SECRET)
    offline = VWPolicy(seed=0, secret=SECRET)
    stream = Stream(0)
    actions = make_actions()
    for t in range(200):
        _, context, click_p = stream.next()
        d = online.rank(context, actions, now=float(t))
        r = float(click_p[d.index] > 0.5)
        online.reward(d.event_id, r, now=float(t))
        # learn() weights a log's event by 1/p; squarecb's own decisions learn with weight 1
        offline.learn(context, actions, d.index, r, 1.0 if not online.options["importance_weighted"] else d.probability)
    _, context, _ = stream.next()
    # online learning reuses the examples parsed at rank time; learn() parses again: same model
    assert online.predict(context, actions).tolist() == offline.predict(context, actions).tolist()
    with pytest.raises(BanditError, match="probability"):
        offline.learn(context, actions, 0, 1.0, 0.0)
    with pytest.raises(BanditError, match="chosen_index"):
        offline.learn(context, actions, 99, 1.0, 0.5)


@pytest.mark.parametrize("exploration", ["squarecb", "epsilon", "softmax", "bag", "cover"])
def test_fast_path_learns_like_the_public_api(exploration):
    # The personalizer reuses parsed examples and learns with --no_predict through pylibvw. A plain
    # Workspace fed the whole text of every example (no reuse, no --no_predict) must give the same
    # pmf at every step, with rewards arriving late and out of order, actions changing features,
    # and more distinct contexts than the personalizer keeps parsed.
    import vowpalwabbit

    from bandit.features import context_line
    from bandit.policies.vw import NO_PREDICT, SHARED_EXAMPLES

    p = VWPolicy(exploration, seed=2, secret=SECRET, min_probability=0.0, reward_wait_s=1e9)
    public = vowpalwabbit.Workspace(p.vw_args.replace(NO_PREDICT, ""))

    def text(context, actions, chosen=-1, label=""):
        lines = [context_line(context)]
        for i, entry in enumerate(p._registry.lookup(actions)):
            lines.append(label + entry.vw_line if i == chosen else entry.vw_line)
        return lines

    stream = Stream(4)
    rng = np.random.default_rng(9)
    waiting = []
    n = SHARED_EXAMPLES + 300
    for t in range(n):
        _, context, click_p = stream.next()
        context = {**context, "visit": {"t": float(t)}}  # every context distinct
        actions = make_actions()
        if t > n // 2:
            actions[2]["features"]["f0"] = 0.99  # a variant re-rendered mid-run
        d = p.rank(context, actions, now=float(t))
        assert p.predict(context, actions).tolist() == pytest.approx(public.predict(text(context, actions)), abs=1e-6)
        waiting.append((d, context, actions, float(rng.random() < click_p[d.index])))
        if rng.random() < 0.6:  # rewards come late and out of order
            d, context, actions, reward = waiting.pop(int(rng.integers(len(waiting))))
            p.reward(d.event_id, reward, now=float(t))
            # squarecb learns unweighted by default: its label carries p = 1 (docs/defaults.md)
            weight_p = d.probability if p.options["importance_weighted"] else 1.0
            public.learn(text(context, actions, d.index, f"0:{1.0 - reward}:{weight_p} "))
    assert p.n_learned > n // 2


def test_linucb_personalizes_and_scores_do_not_depend_on_action_order():
    p = make_policy("linucb", seed=3, secret=SECRET)
    assert run(p, 2000) > 0.45  # uniform is 0.225
    _, context, _ = Stream(12).next()
    actions = make_actions()
    pmf = p.predict(context, actions)
    order = [3, 0, 7, 1, 6, 2, 5, 4]
    shuffled = p.predict(context, [actions[i] for i in order])
    assert shuffled.tolist() == [pmf[i] for i in order]


def test_apply_floor_keeps_a_distribution_above_the_floor():
    from bandit import apply_floor

    rng = np.random.default_rng(0)
    for k in (2, 3, 8, 50):
        for _ in range(50):
            raw = rng.dirichlet(np.full(k, 0.1)).tolist()
            out = apply_floor(raw, 0.01)
            assert math.isclose(sum(out), 1.0, rel_tol=1e-12)
            assert min(out) >= min(0.01, 1.0 / k) - 1e-12
            # order is kept (up to rounding ties): the floor only mixes in uniform
            by_raw = [out[i] for i in np.argsort(raw)]
            assert all(a <= b + 1e-15 for a, b in zip(by_raw, by_raw[1:]))
    assert apply_floor([0.5, 0.5], 0.0) == [0.5, 0.5]
    assert apply_floor([1.0, 0.0, 0.0, 0.0], 0.5) == [0.25] * 4  # capped at uniform
    assert apply_floor([0.0, 0.0], 0.1) == [0.5, 0.5]


def test_feature_text_for_every_supported_type_and_error():
    from bandit.features import format_features

    feats = {
        "n": 2,
        "x": 0.25,
        "np": np.float32(0.5),
        "on": True,
        "off": False,
        "skip": None,
        "a b": "c:d|e",
        "neg": -1.5,
    }
    assert format_features(feats, "ctx") == "n:2 x:0.25 np:0.5 on:1 off:0 a%20b=c%3Ad%7Ce neg:-1.5"
    assert format_features({}, "ctx") == ""
    for bad, pattern in [
        ({"x": float("inf")}, "ctx: feature 'x' is inf"),
        ({"x": -float("inf")}, "finite"),
        ({"x": np.float64("nan")}, "finite"),
        ({3: 1.0}, "names must be strings"),
        ({3: "s"}, "names must be strings"),
        ({"x": [1]}, "unsupported type list"),
    ]:
        with pytest.raises(BanditError, match=pattern):
            format_features(bad, "ctx")


ACTIONS = [
    {"id": "a", "features": {"x": 1.0}},
    {"id": "b", "features": {"x": 2.0}},
    {"id": "c", "features": {"x": 3.0}},
]


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
    policy = FixedPolicy(
        [0.7, 0.3, 0.0], min_probability=0.06, exploration_budget=None, seed=5, log=path, secret=SECRET
    )
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
    policy = FixedPolicy(
        [0.7, 0.3, 0.0],
        min_probability=0.06,
        exploration_budget=None,
        seed=2,
        reward_range=(-1.0, 1.0),
        default_reward=-1.0,
        reward_wait_s=10.0,
    )
    expected = [0.82 * 0.7 + 0.06, 0.82 * 0.3 + 0.06, 0.06]
    d1 = policy.rank({}, ACTIONS, now=0.0)
    d2 = policy.rank({}, ACTIONS, now=1.0)
    policy.reward(d1.event_id, 0.5, now=2.0)
    policy.expire(now=100.0)  # d2 learns the default reward -1, i.e. 0 on [0, 1]
    assert policy.updates == [
        (d1.index, pytest.approx(0.75), pytest.approx(expected[d1.index], abs=1e-15)),
        (d2.index, 0.0, pytest.approx(expected[d2.index], abs=1e-15)),
    ]


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
    scores = [
        0.2034146857749588,
        0.7673483420763234,
        0.7886482900098098,
        0.1582086298273846,
        0.16195407019788421,
        0.5294742230377147,
        0.11721284387105246,
        0.9214183944636138,
        0.6656058220179341,
        0.01320375853497835,
        0.6812806756042346,
        0.9000980523907597,
    ]
    actions = [{"id": f"v{i}", "features": {"x": float(i)}} for i in range(12)]
    policy = FixedPolicy(scores, min_probability=0.0)
    policy._rng = type("TopDraw", (), {"random": staticmethod(lambda: 1.0 - 2.0**-53)})()
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
    sets = [
        json.loads(r[0])
        for r in db.execute("SELECT s.actions FROM events e JOIN action_sets s ON s.id = e.action_set ORDER BY e.seq")
    ]
    db.close()
    assert [[a["id"] for a in s] for s in sets] == [["a", "b", "c"], ["a", "b"], ["a", "b", "c"]]
    assert sets[1] == [{"id": "a", "features": {"x": 1.0}}, {"id": "b", "features": {"x": 2.0}}]


@pytest.mark.parametrize("spec", ["vw:squarecb", "vw:epsilon", "linucb", "ts-per-title"])
def test_replay_step_matches_predict_then_learn(spec: str) -> None:
    a, b = make_policy(spec, seed=3), make_policy(spec, seed=3)
    actions = make_actions()
    stream, rng = Stream(seed=5), np.random.default_rng(9)
    for t in range(400):
        _, context, click_p = stream.next()
        chosen = int(rng.integers(len(actions)))
        reward = float(rng.random() < click_p[chosen])
        expected = a.predict(context, actions)
        a.learn(context, actions, chosen, reward, 1.0 / len(actions))
        step = b.replay_step(context, actions)
        np.testing.assert_allclose(step.pmf, expected, rtol=0, atol=1e-12)
        if t % 3:  # a step need not be learned from
            step.learn(chosen, reward, 1.0 / len(actions))
        else:
            b.learn(context, actions, chosen, reward, 1.0 / len(actions))
    _, context, _ = stream.next()
    np.testing.assert_allclose(b.predict(context, actions), a.predict(context, actions), atol=1e-12)
    assert a.n_learned == b.n_learned == 400


ROOT = Path(tests.__file__).resolve().parents[1]  # the checkout, which holds the `tests` package


def _probe(policy) -> np.ndarray:
    stream = Stream(99)
    return np.array([policy.predict(stream.next()[1], make_actions()) for _ in range(20)])


def test_a_restart_recovers_pending_events_and_their_late_rewards_learn_and_are_logged(tmp_path):
    path = tmp_path / "e.sqlite"
    stream = Stream(0)
    with make_policy("vw", seed=0, log=path, secret=SECRET, reward_wait_s=600.0) as a:
        decisions = [a.rank(stream.next()[1], make_actions(), now=1000.0 + t) for t in range(40)]
        for d in decisions[::2]:
            a.reward(d.event_id, 1.0, now=1001.0)
    waiting = decisions[1::2]
    b = make_policy("vw", seed=0, log=path, secret=SECRET, reward_wait_s=600.0)
    assert b.pending_count == 20
    before = _probe(b)
    for d in waiting[:15]:
        b.reward(d.event_id, 0.0, now=1500.0)  # cost 1: moves VW's initial scores of 0
    assert b.n_learned == 15 and b.pending_count == 5
    assert not np.array_equal(before, _probe(b))  # the late rewards were learned
    with pytest.raises(UnknownEventError):
        b.reward("never-ranked", 1.0, now=1500.0)
    # the other 5 expire on their original schedule (logged time + window) with the default reward
    assert b.expire(now=1000.0 + 39 + 600.0 + 1) == 5 and b.n_learned == 20
    b.close()
    rows = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    assert all(rows[d.event_id].reward == 1.0 and not rows[d.event_id].defaulted for d in decisions[::2])
    assert all(rows[d.event_id].reward == 0.0 and rows[d.event_id].reward_time == 1500.0 for d in waiting[:15])
    assert not any(rows[d.event_id].defaulted for d in waiting[:15])
    for d in waiting[15:]:
        row = rows[d.event_id]
        assert row.reward == 0.0 and row.defaulted and row.reward_time == row.time + 600.0


def test_recovered_events_that_expire_learn_exactly_what_an_explicit_default_reward_would(tmp_path):
    VWPolicy(seed=3, secret=SECRET).save(tmp_path / "model")
    options = dict(secret=SECRET, reward_wait_s=100.0, default_reward=0.25)
    stream = Stream(5)
    contexts = [stream.next()[1] for _ in range(30)]

    def rank_all(policy):
        return [policy.rank(c, make_actions(), now=float(t)) for t, c in enumerate(contexts)]

    crashed = VWPolicy.load(tmp_path / "model", log=tmp_path / "e.sqlite", **options)
    ranked = rank_all(crashed)
    crashed.close()  # gone without rewards or expiry
    restarted = VWPolicy.load(tmp_path / "model", log=tmp_path / "e.sqlite", **options)
    assert restarted.expire(now=1000.0) == 30 and restarted.n_learned == 30

    def explicit(value):
        ref = VWPolicy.load(tmp_path / "model", **options)
        decisions = rank_all(ref)
        assert [d.index for d in decisions] == [d.index for d in ranked]  # same draws as the crashed run
        for d in decisions:
            ref.reward(d.event_id, value, now=float(len(contexts)))
        return _probe(ref)

    assert np.array_equal(_probe(restarted), explicit(0.25))
    assert not np.array_equal(_probe(restarted), explicit(1.0))  # the comparison can tell rewards apart
    restarted.close()
    rows = list(EventLog(tmp_path / "e.sqlite", readonly=True).iter_events())
    assert [r.event_id for r in rows] == [d.event_id for d in ranked]
    assert all(r.reward == 0.25 and r.defaulted and r.reward_time == r.time + 100.0 for r in rows)


_CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
import bandit
from tests.bandit_helpers import Stream, make_actions
p = bandit.VWPolicy(seed=0, log={path!r}, secret={secret!r}, reward_wait_s=3600.0)
stream = Stream(0)
while True:
    user_id, context, _ = stream.next()
    d = p.rank(context, make_actions(), user_id=user_id)
    print(d.event_id, d.index, flush=True)
    time.sleep(0.002)
"""


def test_sigkill_mid_traffic_then_restart_accepts_learns_and_logs_pre_crash_rewards(tmp_path):
    path = tmp_path / "e.sqlite"
    script = _CHILD.format(tests=str(ROOT), path=str(path), secret=SECRET)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    printed = []
    try:
        for line in child.stdout:
            printed.append(line.split())
            if len(printed) == 300:
                break
        time.sleep(1.5)  # traffic goes on; the first 300 are committed well within this
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    logged = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    assert all(eid in logged for eid, _ in printed)
    assert len(logged) > 300  # killed mid-traffic, after more decisions were committed
    restarted = VWPolicy(seed=0, log=path, secret=SECRET, reward_wait_s=3600.0)
    assert restarted.pending_count == len(logged)
    before = _probe(restarted)
    for eid, index in printed:
        restarted.reward(eid, 1.0 if int(index) % 2 else 0.0)
    assert restarted.n_learned == 300 and restarted.pending_count == len(logged) - 300
    assert not np.array_equal(before, _probe(restarted))
    restarted.close()
    rows = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    for eid, index in printed:
        assert rows[eid].reward == (1.0 if int(index) % 2 else 0.0) and not rows[eid].defaulted
        assert rows[eid].chosen_index == int(index)
    assert sum(r.reward is None for r in rows.values()) == len(logged) - 300


def test_rows_are_committed_within_a_fraction_of_a_second_without_close_or_more_traffic(tmp_path):
    path = tmp_path / "e.sqlite"
    p = make_policy("uniform", log=path, secret=SECRET)
    d = p.rank({"u": {"x": 1.0}}, make_actions(), now=0.0)
    p.reward(d.event_id, 1.0, now=0.0)
    seen = None
    for _ in range(200):  # another connection, as another process would read it
        with sqlite3.connect(path) as db:
            seen = db.execute("SELECT event_id, reward FROM events").fetchall()
        if seen and seen[0][1] is not None:
            break
        time.sleep(0.05)
    assert seen == [(d.event_id, 1.0)]
    assert p.log.commit_interval_s <= 0.25
    p.close()


def test_interpreter_exit_commits_what_was_buffered(tmp_path):
    path = tmp_path / "e.sqlite"
    script = textwrap.dedent(f"""
        import bandit
        p = bandit.make_policy("uniform", log={str(path)!r}, secret={SECRET!r})
        log = p.log
        log.commit_interval_s = 1e9  # only the exit can commit these
        ids = [p.rank({{"u": {{"x": float(i)}}}}, [{{"id": "a"}}, {{"id": "b"}}], now=0.0).event_id for i in range(3)]
        p.reward(ids[0], 1.0, now=0.0)
        print(" ".join(ids))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    ids = out.stdout.split()
    rows = {e.event_id: e for e in EventLog(path, readonly=True).iter_events()}
    assert sorted(rows) == sorted(ids) and rows[ids[0]].reward == 1.0


def test_policy_and_event_log_are_context_managers(tmp_path):
    with EventLog(tmp_path / "e.sqlite", commit_interval_s=1e9) as log:
        with make_policy("uniform", log=log) as p:
            p.rank({"u": {"x": 1.0}}, make_actions(), now=0.0)
        assert log._db is None  # closing the policy closed its log
    with pytest.raises(BanditError, match="commit_interval_s"):
        EventLog(tmp_path / "f.sqlite", commit_interval_s=0)
    assert len(EventLog(tmp_path / "e.sqlite", readonly=True)) == 1


def test_an_expired_event_learns_exactly_what_an_explicit_default_reward_would():
    def trained(finish):
        p = VWPolicy(seed=4, secret=SECRET, reward_wait_s=5.0, default_reward=0.25)
        stream = Stream(4)
        decisions = [p.rank(stream.next()[1], make_actions(), now=float(t)) for t in range(3)]
        finish(p, decisions)
        return _probe(p)

    expired = trained(lambda p, ds: p.expire(now=100.0))
    explicit = trained(lambda p, ds: [p.reward(d.event_id, 0.25, now=4.0) for d in ds])
    other = trained(lambda p, ds: [p.reward(d.event_id, 1.0, now=4.0) for d in ds])
    assert np.array_equal(expired, explicit) and not np.array_equal(expired, other)


@pytest.mark.parametrize("spec", ["uniform", "vw"])
def test_rewarded_events_leave_the_expiry_queue(spec):
    # 20k decisions at 1,000/s on the clock with the default 600 s window: every one is still inside
    # its window at the end, but all were rewarded, so almost nothing may stay queued
    p = make_policy(spec, seed=0, secret=SECRET)
    stream = Stream(0)
    peak = 0
    for t in range(20_000):
        _, context, _ = stream.next()
        d = p.rank(context, make_actions(), now=1_000.0 + t / 1000.0)
        if t % 10:  # one in ten waits for its window to end
            p.reward(d.event_id, 1.0, now=1_000.0 + t / 1000.0)
        peak = max(peak, len(p._book.window.heap))
    assert p.pending_count == 2_000
    assert peak <= 2 * p.pending_count + 1024  # not 20,000
    assert p.expire(now=10_000.0) == 2_000 and len(p._book.window.heap) == 0


def test_text_caches_are_bounded_by_size_with_contexts_that_never_repeat(monkeypatch):
    budget = 200_000
    for cache in (vwformat._escaped, vwformat._namespace_text, bandit_features._namespace_json):
        monkeypatch.setattr(cache, "max_chars", budget)
        cache.clear()
    p = make_policy("vw", seed=0, secret=SECRET, log=None)
    for t in range(600):  # 2 KB of unique text per decision: 1.2 MB through the caches
        d = p.rank({"user": {"note": f"{t}-" + "x" * 2000}}, make_actions(), now=float(t))
        p.reward(d.event_id, 1.0, now=float(t))
    for cache in (vwformat._escaped, vwformat._namespace_text):
        held = sum(len(v) for v in cache.values())
        assert 0 < held <= budget and cache.chars <= budget


def test_namespaces_that_never_repeat_stop_filling_the_text_cache(monkeypatch):
    monkeypatch.setattr(vwformat, "_namespace_hits", {})
    vwformat._namespace_text.clear()
    for t in range(3000):
        line = vwformat.context_line({"profile": {"country": "US"}, "session": {"t": float(t)}})
        assert line == f"shared |c_profile country=US |c_session t:{float(t)}"
    lookups, hits = vwformat._namespace_hits["session"]
    assert hits == 0 and lookups == 3000
    cached = [key for key in vwformat._namespace_text if key[0] == "session"]
    assert len(cached) == vwformat._PROBE - 1  # probed, then left alone
    assert vwformat._namespace_hits["profile"][1] == 2999  # a repeating namespace keeps its cache


def _catalogue_traffic(policy, titles: int) -> list[list[float]]:
    """One title per decision, 8 variants each, ids never seen again after their title: the pmfs."""
    pmfs = []
    for t in range(titles):
        actions = [{"id": f"t{t}-v{j}", "features": {**a["features"]}} for j, a in enumerate(make_actions())]
        d = policy.rank({"user": {"segment": ("action", "kids")[t % 2]}}, actions, now=float(t))
        policy.reward(d.event_id, float(d.index == t % 3), now=float(t))
        pmfs.append(d.pmf)
    return pmfs


@pytest.mark.parametrize("spec", ["vw:squarecb", "vw:select"])
def test_parsed_action_examples_are_bounded_on_a_catalogue_of_many_variants(spec, monkeypatch):
    """A parsed VW example holds ~32 KB, so one per action id grew to gigabytes on a big catalogue:
    the cache keeps the most recently used ones, and a dropped one parsed again learns the same."""
    from bandit.policies import vw as vw_policy

    p = make_policy(spec, seed=0, secret=SECRET)
    _catalogue_traffic(p, 300)  # 2,400 action ids
    caches = p._caches if spec == "vw:select" else [p._examples_cache]
    assert all(len(c.actions) == vw_policy.ACTION_EXAMPLES for c in caches)  # 1,024, not 2,400
    # a tiny cache (re-parsing nearly every action) decides exactly as the full one
    monkeypatch.setattr(vw_policy, "ACTION_EXAMPLES", 3)  # read at every lookup
    small = make_policy(spec, seed=0, secret=SECRET)
    got = _catalogue_traffic(small, 200)
    assert all(len(c.actions) == 3 for c in (small._caches if spec == "vw:select" else [small._examples_cache]))
    monkeypatch.setattr(vw_policy, "ACTION_EXAMPLES", 100_000)
    expected = _catalogue_traffic(make_policy(spec, seed=0, secret=SECRET), 200)
    assert got == expected and max(max(pmf) for pmf in expected) > 0.5  # and it learned something
