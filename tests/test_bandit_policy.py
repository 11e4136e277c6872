"""Behaviour of the bandit policies: learning, propensities, save/load, delayed rewards, bad rewards."""
from __future__ import annotations

import math

import numpy as np
import pytest

import bandit
from bandit import (
    BanditError,
    DuplicateRewardError,
    ExpiredEventError,
    InvalidRewardError,
    VWPolicy,
    UnknownEventError,
    make_policy,
)
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


@pytest.mark.parametrize("spec", ["vw:squarecb", "vw:epsilon", "vw:softmax", "vw:bag", "vw:cover",
                                  "uniform", "ts-per-title", "linucb"])
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


@pytest.mark.parametrize("exploration", ["squarecb", pytest.param("bag", marks=pytest.mark.xfail(
    reason="VW's bagging draws its bootstrap weights from a random state that -i does not restore: a "
           "loaded bag model diverges on 10 of seeds 0-11 (also before the exploration budget; seed 7 "
           "happened to pass)", strict=False))])
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
    assert p.expire(now=10.0) == 0      # d1's window ends at 10.0 (inclusive)
    assert p.expire(now=10.5) == 1      # closed with the default reward
    assert p.n_learned == 2 and p.pending_count == 0
    with pytest.raises(ExpiredEventError):
        p.reward(d1.event_id, 1.0, now=11.0)
    # a reward arriving after the window closes is expired even without an explicit expire()
    d3 = p.rank(context, actions, now=20.0)
    with pytest.raises(ExpiredEventError):
        p.reward(d3.event_id, 1.0, now=31.0)


def test_sum_aggregation_learns_the_clipped_total_when_the_window_closes(tmp_path):
    p = VWPolicy(seed=0, secret=SECRET, reward_wait_s=5.0, aggregation="sum",
                     log=tmp_path / "e.sqlite")
    _, context, _ = Stream(0).next()
    d = p.rank(context, make_actions(), now=0.0)
    p.reward(d.event_id, 0.5, now=1.0)
    p.reward(d.event_id, 0.25, now=2.0)
    assert p.n_learned == 0
    d2 = p.rank(context, make_actions(), now=3.0)
    p.reward(d2.event_id, 0.75, now=3.0)
    p.reward(d2.event_id, 0.75, now=4.0)   # 1.5 is clipped to the top of the range
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
    for bad, pattern in [(float("nan"), "finite"), (float("inf"), "finite"), (1.5, "outside"),
                         (-0.1, "outside"), ("x", "number"), (None, "number")]:
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
    assert all(issubclass(e, BanditError) for e in (UnknownEventError, ExpiredEventError,
                                                   DuplicateRewardError, InvalidRewardError))


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

    ctx = {"user": {"city": "New \"York\"", "n": 3, "x": 0.25}, "h": {}}
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
    assert apply_floor([1.0, 0.0, 0.0, 0.0], 0.5) == [0.25] * 4   # capped at uniform
    assert apply_floor([0.0, 0.0], 0.1) == [0.5, 0.5]


def test_feature_text_for_every_supported_type_and_error():
    from bandit.features import format_features

    feats = {"n": 2, "x": 0.25, "np": np.float32(0.5), "on": True, "off": False, "skip": None,
             "a b": "c:d|e", "neg": -1.5}
    assert format_features(feats, "ctx") == "n:2 x:0.25 np:0.5 on:1 off:0 a%20b=c%3Ad%7Ce neg:-1.5"
    assert format_features({}, "ctx") == ""
    for bad, pattern in [({"x": float("inf")}, "ctx: feature 'x' is inf"), ({"x": -float("inf")}, "finite"),
                         ({"x": np.float64("nan")}, "finite"), ({3: 1.0}, "names must be strings"),
                         ({3: "s"}, "names must be strings"), ({"x": [1]}, "unsupported type list")]:
        with pytest.raises(BanditError, match=pattern):
            format_features(bad, "ctx")
