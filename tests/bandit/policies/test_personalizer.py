"""`vw:select` (bandit.policies.personalizer): squarecb over one VW regression per interaction set, mixed by
exponential weights on their squared error. Checked against a plain re-implementation, on the
synthetic suite against LinUCB and the default, through save/load, logs and the CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pylibvw
import pytest
import vowpalwabbit

import tests
from bandit import BanditError, LinUCB, Personalizer, VWPolicy, load_saved_policy, make_policy
from bandit.features import context_line
from simulations.world.benchenvs import EnvSpec, SyntheticEnv, run_policy
from tests.bandit_helpers import play_env

ROOT = Path(tests.__file__).resolve().parents[1]  # the checkout


class PlainSelection:
    """The same algorithm written out with VW's text lines parsed afresh every time (no caches)."""

    def __init__(self, seed: int) -> None:
        self.vws = [
            vowpalwabbit.Workspace(f"--cb_adf --quiet --random_seed {seed} -b 18 --interactions cA"),
            vowpalwabbit.Workspace(
                f"--cb_adf --quiet --random_seed {seed} -b 18 --interactions cA --interactions ccA -l 0.25"
            ),
        ]
        self.loss = np.zeros(2)
        self.t = 0

    def _lines(self, context: dict, actions: list[dict]) -> tuple[str, list[str]]:
        from bandit.vwformat import ACTION_NAMESPACE, format_features

        shared = context_line(context)
        lines = [f"|{ACTION_NAMESPACE} id={a['id']} " + format_features(a["features"], "action") for a in actions]
        return shared, [line.rstrip() for line in lines]

    def costs(self, context: dict, actions: list[dict]) -> np.ndarray:
        shared, lines = self._lines(context, actions)
        out = []
        for vw in self.vws:
            lt = int(vw.get_label_type())
            ex = [pylibvw.example(vw, lt, shared)] + [pylibvw.example(vw, lt, line) for line in lines]
            pylibvw.vw.predict_multi(vw, ex)
            out.append(ex[0].get_action_scores())
        return np.clip(np.array(out), 0, 1)

    def pmf(self, context: dict, actions: list[dict]) -> np.ndarray:
        w = np.exp(-2.0 * (self.loss - self.loss.min()))
        c = (w / w.sum()) @ self.costs(context, actions)
        gamma = 50.0 * (self.t + 1) ** 0.5
        b = int(np.argmin(c))
        p = 1.0 / (len(actions) + gamma * (c - c[b]))
        p[b] = 0.0
        p[b] = 1.0 - p.sum()
        return p

    def learn(self, context: dict, actions: list[dict], index: int, reward: float, p: float = 1.0) -> None:
        cost = 1.0 - reward
        self.loss += (self.costs(context, actions)[:, index] - cost) ** 2
        shared, lines = self._lines(context, actions)
        for vw in self.vws:
            lt = int(vw.get_label_type())
            ex = [pylibvw.example(vw, lt, shared)] + [pylibvw.example(vw, lt, line) for line in lines]
            ex[1 + index] = pylibvw.example(vw, lt, f"0:{cost}:{p} {lines[index]}")
            pylibvw.vw.learn_multi(vw, ex)
        self.t += 1


def test_the_fast_path_learns_exactly_like_the_plain_algorithm() -> None:
    env = SyntheticEnv(EnvSpec("kernel", True), 0)
    x, mu, u = env.stream(600, 1)
    mine, plain = Personalizer(seed=3, min_probability=0.0), PlainSelection(3)
    for t in range(600):
        ctx = env.context(x[t])
        want = plain.pmf(ctx, env.actions)
        d = mine.rank(ctx, env.actions, now=float(t))
        np.testing.assert_allclose(d.pmf, want, atol=1e-6)
        reward = 1.0 if u[t] < mu[t, d.index] else 0.0
        plain.learn(ctx, env.actions, d.index, reward)
        mine.reward(d.event_id, reward, now=float(t))
    np.testing.assert_allclose(mine.loss[:2], plain.loss, rtol=1e-6)  # the VW models (the ridge member out)


def test_the_shared_parse_and_the_featureless_actions_learn_exactly_like_full_examples() -> None:
    """The fast path (one context parse moved between the models, the labelled example too, and
    learning with feature-less stand-ins for the actions not chosen) against the plain algorithm
    (every model parses everything itself and learns from every action's example): the same
    choices and pmfs to 1e-9 and the same squared errors, with 2 to 7 actions per decision, rewards
    learned late and out of order, and events learned from a log (weighted by 1/p)."""
    env = SyntheticEnv(EnvSpec("kernel", True, actions=7), 4)
    x, mu, u = env.stream(900, 5)
    mine, plain = Personalizer(seed=5, min_probability=0.0, exploration_budget=None), PlainSelection(5)
    waiting = []
    for t in range(900):
        k = 2 + t % 6
        order = [(t * 3 + j) % 7 for j in range(k)]
        actions = [env.actions[j] for j in order]
        ctx = env.context(x[t])
        if t % 10 == 9:  # an event from another policy's log
            i, p = t % k, 0.25
            r = 1.0 if u[t] < mu[t, order[i]] else 0.0
            plain.learn(ctx, actions, i, r, p)
            mine.learn(ctx, actions, i, r, p)
            continue
        want = plain.pmf(ctx, actions)
        d = mine.rank(ctx, actions, now=float(t))
        np.testing.assert_allclose(d.pmf, want, atol=1e-9)
        waiting.append((d.event_id, ctx, actions, d.index, 1.0 if u[t] < mu[t, order[d.index]] else 0.0))
        if len(waiting) == 3:  # three rewards at once, newest first
            for event_id, c, a, i, r in reversed(waiting):
                plain.learn(c, a, i, r)
                mine.reward(event_id, r, now=float(t))
            waiting = []
    np.testing.assert_allclose(mine.loss[:2], plain.loss, rtol=1e-12)  # the VW models (the ridge member out)
    assert mine.n_learned == plain.t == 900 - len(waiting)


def _suite(kind: str, af: bool, make, n: int = 3000, seeds=(0, 1)) -> float:
    return float(np.mean([run_policy(SyntheticEnv(EnvSpec(kind, af), s), make(s), n, seed=s)["reward"] for s in seeds]))


def test_it_takes_the_third_order_model_where_rewards_are_non_linear_and_not_where_linear() -> None:
    """bench/defaults.py, 8 seeds x 5,000 rounds: +0.65 points over LinUCB on neighbours, level
    on linear, where the default is -0.3 and -0.5. Here: the mixture's weights and the rewards."""
    runs = {}
    for kind in ("neighbours", "linear"):
        env = SyntheticEnv(EnvSpec(kind, False), 0)
        policy = Personalizer(seed=0)
        runs[kind] = run_policy(env, policy, 3000, seed=0)["reward"], policy.weights()
    assert runs["neighbours"][1][1] > 0.99  # the -q ccA model carries the non-linear world
    assert runs["linear"][1][0] > 0.9  # the -q cA model the linear one
    select = _suite("neighbours", False, lambda s: Personalizer(seed=s))
    default = _suite("neighbours", False, lambda s: VWPolicy(seed=s))
    linucb = _suite("neighbours", False, lambda s: LinUCB(seed=s))
    # measured here: 0.5648 vs 0.5565 and 0.5553
    assert select > default + 0.005 and select > linucb + 0.005, (select, default, linucb)
    # linear+af is its weakest class: level with LinUCB over 8 seeds x 5,000 rounds (-0.24 +- 0.23
    # points), but behind early and on these two seeds (measured here: 0.6041 vs 0.6270); this pins
    # that it does not get worse
    select = _suite("linear", True, lambda s: Personalizer(seed=s))
    linucb = _suite("linear", True, lambda s: LinUCB(seed=s))
    assert select > linucb - 0.03, (select, linucb)


def test_it_logs_its_decisions_with_the_floor_and_the_probability_it_sampled(tmp_path) -> None:
    env = SyntheticEnv(EnvSpec("linear", True), 1)
    x, mu, u = env.stream(300, 2)
    log = tmp_path / "e.sqlite"
    with make_policy("vw:select", seed=1, log=log, reward_wait_s=0.0) as policy:
        decisions = []
        for t in range(300):
            d = policy.rank(env.context(x[t]), env.actions, now=float(t))
            decisions.append(d)
            policy.reward(d.event_id, float(u[t] < mu[t, d.index]), now=float(t))
    assert all(min(d.pmf) >= 0.01 - 1e-12 and d.probability == d.pmf[d.index] for d in decisions)
    rows = sqlite3.connect(log).execute("SELECT policy, probability, pmf FROM events ORDER BY seq").fetchall()
    assert len(rows) == 300 and {r[0] for r in rows} == {"vw:select"}
    assert [r[1] for r in rows] == [d.probability for d in decisions]
    assert [json.loads(r[2]) for r in rows] == [pytest.approx(d.pmf) for d in decisions]


def test_a_saved_model_continues_exactly_and_a_damaged_one_is_refused(tmp_path) -> None:
    env = SyntheticEnv(EnvSpec("kernel", False), 2)
    stream = env.stream(800, 3)

    def play(policy, a: int, b: int) -> list[tuple[int, float]]:
        return play_env(policy, env, stream, a, b)

    whole = Personalizer(seed=5, reward_wait_s=0.0)
    straight = play(whole, 0, 800)
    first = Personalizer(seed=5, reward_wait_s=0.0)
    head = play(first, 0, 400)
    first.save(tmp_path / "m")
    again = load_saved_policy(tmp_path / "m")
    assert isinstance(again, Personalizer) and again.n_learned == 400
    assert head + play(again, 400, 800) == straight
    np.testing.assert_allclose(again.loss, whole.loss, rtol=1e-9)

    with pytest.raises(BanditError, match="fixed by the saved model"):
        Personalizer.load(tmp_path / "m", eta=1.0)
    model = tmp_path / "m" / "model1.vw"
    model.write_bytes(model.read_bytes()[:-10])
    with pytest.raises(BanditError, match="does not match the checksum"):
        Personalizer.load(tmp_path / "m")
    with pytest.raises(BanditError, match="not a saved vw:select model"):
        VWPolicy(seed=0).save(tmp_path / "p") or Personalizer.load(tmp_path / "p")


def test_bad_options_are_one_line_errors() -> None:
    for bad, says in (
        ({"models": []}, "at least one"),
        ({"models": [("c", None)]}, "models must be"),
        ({"models": [(["cA"], "fast")]}, "learning rate must be a number"),
        ({"eta": 0}, "eta"),
        ({"models": [(["c_"], None)]}, "models must be"),
    ):
        with pytest.raises(BanditError) as info:
            Personalizer(**bad)
        assert says in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_the_cli_simulates_evaluates_trains_and_ranks_with_it(tmp_path) -> None:
    exe = [str(Path(sys.executable).parent / "artbandit")]  # the console script, as a user runs it

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(exe + list(args), capture_output=True, text=True, cwd=ROOT, timeout=300)

    proc = run(
        "simulate", "-n", "1500", "-p", "vw:select", "-p", "uniform", "-o", str(tmp_path / "sim"), "--json", "-q"
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["policies"]["vw:select"]["share_of_oracle"] > metrics["policies"]["uniform"]["share_of_oracle"]
    proc = run(
        "evaluate",
        str(tmp_path / "sim" / "events.sqlite"),
        "--policy",
        "vw:select",
        "--apply",
        str(tmp_path / "applied"),
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    applied = load_saved_policy(tmp_path / "applied")
    assert isinstance(applied, Personalizer) and applied.n_learned == 1500
    proc = run(
        "train", str(tmp_path / "sim" / "events.sqlite"), "--exploration", "select", "-o", str(tmp_path / "m"), "-q"
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "m" / "metadata.json").read_text())["policy"] == "vw:select"
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    imp = next(iter(Environment(load_scenario("segments"), seed=0).impressions(1)))
    (tmp_path / "ctx.json").write_text(json.dumps(imp.context))
    (tmp_path / "actions.json").write_text(json.dumps(imp.actions))
    proc = run(
        "rank",
        str(tmp_path / "m"),
        "--context",
        str(tmp_path / "ctx.json"),
        "--actions",
        str(tmp_path / "actions.json"),
        "--json",
        "--seed",
        "1",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rewardActionId"] in {a["id"] for a in imp.actions}


def test_it_carries_the_drift_hook_and_logs_the_drop(tmp_path) -> None:
    """The Personalizer's drift hook (bandit.policies.drift_hook): at a known change of tastes the drop is
    detected once, the floor is raised for drift_boost events, and the event log records it."""
    from bandit.log.eventlog import EventLog
    from tests.bandit_helpers import SEGMENTS, Stream, click_probabilities, make_actions

    stream, actions = Stream(0), make_actions()
    outcome = np.random.default_rng(1)
    change = 4000
    with Personalizer(seed=0, log=tmp_path / "e.sqlite") as policy:
        floors = []
        for t in range(9000):
            user_id, context, _ = stream.next()
            segment = context["user"]["segment"]
            if t >= change:
                segment = SEGMENTS[(SEGMENTS.index(segment) + 1) % len(SEGMENTS)]
            d = policy.rank(context, actions, user_id=user_id, now=float(t))
            policy.reward(d.event_id, float(outcome.random() < click_probabilities(segment)[d.index]), now=float(t))
            floors.append(policy.min_probability)
        detected = list(policy.drift_events)
    assert len(detected) == 1 and change <= detected[0] <= change + 1500, detected
    assert floors[detected[0] + 10] == 0.05 and floors[-1] == 0.01
    with EventLog(tmp_path / "e.sqlite", readonly=True) as log:
        assert [r.n_learned for r in log.drift_events()] == detected


def test_a_model_with_negligible_weight_is_not_asked_and_nothing_changes(monkeypatch) -> None:
    """On the simulator the -q cA model wins outright (the other's weight falls below 1e-12 within a
    few thousand rewards): decisions then skip the costlier model's prediction, and make the same
    choices with the same probabilities (to 1e-9) as a mixture that asks every model every time."""
    from bandit.policies import personalizer as selection
    from simulations.online.runner import run_policy as run_sim
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    sc = load_scenario("segments")
    env = Environment(sc, seed=0)
    stream = env.generate(8000)

    def play(negligible: float) -> tuple[Personalizer, list[list[float]], int]:
        monkeypatch.setattr(selection, "NEGLIGIBLE", negligible)
        asked = [0]
        predict = pylibvw.vw.predict_multi

        def counting(vw, examples):
            asked[0] += 1
            return predict(vw, examples)

        monkeypatch.setattr(pylibvw.vw, "predict_multi", counting)
        policy = Personalizer(seed=0, reward_wait_s=sc.reward_wait_s)
        pmfs = []
        rank = policy.rank

        def recording(*args, **kwargs):
            d = rank(*args, **kwargs)
            pmfs.append(d.pmf)
            return d

        policy.rank = recording
        run_sim(env, stream, policy)
        monkeypatch.setattr(pylibvw.vw, "predict_multi", predict)
        return policy, pmfs, asked[0]

    skipping, pmfs, asked = play(1e-12)
    every, pmfs_every, asked_every = play(0.0)
    assert skipping.weights()[1] < 1e-12 and asked_every == 2 * 8000
    assert asked < 0.75 * asked_every  # the -q ccA model was left out of most decisions
    np.testing.assert_allclose(np.array(pmfs), np.array(pmfs_every), atol=1e-9)
    # the -q cA model learned every reward alike; the negligible one one reward in SPARSE_EVERY
    # (weighted by as many), and stayed negligible
    assert skipping.loss.tolist()[0] == every.loss.tolist()[0]
    assert skipping.loss.tolist()[1] > skipping.loss.tolist()[0] + 100


def test_the_featureless_stand_ins_are_bounded_and_decide_the_same(monkeypatch) -> None:
    """Learning gives VW one feature-less example per action not chosen; only BLANKS_KEPT of them are
    kept per model, and a policy that must make the rest per call decides exactly as one that keeps
    them all (12 actions, 2 kept)."""
    from bandit.policies import personalizer as selection

    env = SyntheticEnv(EnvSpec("linear", True, actions=12), 2)

    def play() -> tuple[Personalizer, list[list[float]]]:
        policy = Personalizer(seed=2)
        x, mu, u = env.stream(400, 3)
        pmfs = []
        for t in range(400):
            d = policy.rank(env.context(x[t]), env.actions, now=float(t))
            pmfs.append(d.pmf)
            policy.reward(d.event_id, 1.0 if u[t] < mu[t, d.index] else 0.0, now=float(t))
        return policy, pmfs

    every, want = play()
    assert [len(pool) for pool in every._blank_pool] == [12, 12]
    monkeypatch.setattr(selection, "BLANKS_KEPT", 2)
    few, got = play()
    assert [len(pool) for pool in few._blank_pool] == [2, 2]
    assert got == want and few.loss.tolist() == every.loss.tolist()


def test_a_model_saved_before_the_exploration_budget_keeps_its_floor_per_candidate(tmp_path) -> None:
    """metadata.json written before issue 31 has no exploration_budget: such a model loads with None
    (1% for each of 8 candidates, as it was saved), a new one with its own budget (5% / 8)."""
    actions = [{"id": f"v{i}", "features": {"f": float(i)}} for i in range(8)]
    for cls, folder in ((Personalizer, "select"), (VWPolicy, "one")):
        policy = cls(seed=1)
        for t in range(300):
            d = policy.rank({"u": {"x": float(t % 7)}}, actions, now=float(t))
            policy.reward(d.event_id, float(d.index == 3), now=float(t))
        policy.save(tmp_path / folder)
        assert load_saved_policy(tmp_path / folder).exploration_budget == 0.05
        meta_path = tmp_path / folder / "metadata.json"
        meta = json.loads(meta_path.read_text())
        del meta["options"]["exploration_budget"]
        meta_path.write_text(json.dumps(meta))
        old = load_saved_policy(tmp_path / folder)
        assert old.exploration_budget is None
        assert min(old.predict({"u": {"x": 1.0}}, actions)) >= 0.01 - 1e-12
        assert 0.05 / 8 - 1e-12 <= min(policy.predict({"u": {"x": 1.0}}, actions)) < 0.01


def test_the_settled_floor_is_saved_with_the_model_and_older_models_keep_theirs(tmp_path) -> None:
    """The floor settles with the events learned (bandit.sampling.settled_scale), so a model saved
    after 2,000 events with `exploration_decay=500` loads with the same halved floor and the same pmf;
    a metadata.json written before the decay has no exploration_decay and keeps the budget's floor."""
    from bandit.sampling import apply_floor

    actions = [{"id": f"v{i}", "features": {"f": float(i)}} for i in range(8)]
    ctx = {"u": {"x": 1.0}}
    for cls, folder in ((Personalizer, "select"), (VWPolicy, "one")):
        policy = cls(seed=1, exploration_decay=500)
        for t in range(2000):
            d = policy.rank({"u": {"x": float(t % 7)}}, actions, now=float(t))
            policy.reward(d.event_id, float(d.index == 3), now=float(t))
        assert policy.n_learned == 2000 and policy.exploration_scale == 0.5  # sqrt(500 / 2,000)
        raw = policy._pmf(policy._prepare(ctx), policy._registry.lookup(actions))
        settled = policy.predict(ctx, actions).tolist()
        assert settled == apply_floor(raw, 0.01, 0.05, 0.5)
        assert min(settled) == pytest.approx(0.05 / 8 / 2, abs=1e-12)  # the settled floor holds the least likely
        policy.save(tmp_path / folder)
        again = load_saved_policy(tmp_path / folder)
        assert (again.exploration_decay, again.exploration_scale) == (500, 0.5)
        assert again.predict(ctx, actions).tolist() == settled
        meta_path = tmp_path / folder / "metadata.json"
        meta = json.loads(meta_path.read_text())
        del meta["options"]["exploration_decay"]
        meta_path.write_text(json.dumps(meta))
        old = load_saved_policy(tmp_path / folder)
        assert (old.exploration_decay, old.exploration_scale) == (None, 1.0)
        assert old.predict(ctx, actions).tolist() == apply_floor(raw, 0.01, 0.05)
        assert min(old.predict(ctx, actions)) == pytest.approx(0.05 / 8, abs=1e-12)


def test_kept_labelled_examples_and_candidate_sets_learn_bit_for_bit_like_fresh_ones(monkeypatch, tmp_path) -> None:
    """Issue 31's speed work keeps each model's labelled examples (a click or not, per action) and
    the last candidate set's parsed examples, and learns first with the model the context is set up
    for. A policy that keeps one labelled example (parsing nearly every label afresh) and forgets
    the candidate set before every decision must make the same choices with the same
    probabilities, reach the same squared errors and save the same model files, bit for bit
    (rewards: clicks, and 0.25 at every fifth decision)."""
    from bandit.policies import personalizer as selection

    env = SyntheticEnv(EnvSpec("kernel", True, actions=6), 1)
    x, mu, u = env.stream(700, 2)

    def play(fresh: bool, folder: str) -> tuple[list, list, bytes]:
        policy = Personalizer(seed=4)
        out = []
        for t in range(700):
            if fresh:
                policy._last_set = [([], []) for _ in policy._last_set]
            d = policy.rank(env.context(x[t]), env.actions, now=float(t))
            out.append((d.index, d.pmf))
            reward = (1.0 if u[t] < mu[t, d.index] else 0.0) if t % 5 else 0.25
            policy.reward(d.event_id, reward, now=float(t))
        policy.save(tmp_path / folder)
        return out, policy.loss.tolist(), b"".join((tmp_path / folder / f"model{i}.vw").read_bytes() for i in (0, 1))

    kept = play(False, "kept")
    assert len(kept[0]) == 700 and 0 < len(set(d[0] for d in kept[0]))
    monkeypatch.setattr(selection, "LABELLED_KEPT", 1)
    fresh = play(True, "fresh")
    assert kept[0] == fresh[0] and kept[1] == fresh[1] and kept[2] == fresh[2]


def test_few_contexts_are_kept_and_a_dropped_one_learns_bit_for_bit_like_a_kept_one(monkeypatch, tmp_path) -> None:
    """Only the last CONTEXTS_KEPT (16) parsed contexts are kept (a parsed example holds ~32 KB, and
    cycling 256 of them cost 3-4 us per decision in cache misses). A reward whose context was
    dropped parses it again: with rewards 40 decisions late, a policy that keeps one context decides,
    scores and saves exactly as one that keeps them all."""
    from bandit.policies import personalizer as selection

    env = SyntheticEnv(EnvSpec("kernel", True, actions=5), 3)
    x, mu, u = env.stream(500, 4)

    def play(kept: int, folder: str) -> tuple[list, list, bytes, int]:
        monkeypatch.setattr(selection, "CONTEXTS_KEPT", kept)
        policy = Personalizer(seed=5)
        out, late, most = [], [], 0
        for t in range(500):
            d = policy.rank(env.context(x[t]), env.actions, now=float(t))
            out.append((d.index, d.pmf))
            late.append((d.event_id, 1.0 if u[t] < mu[t, d.index] else 0.0))
            if t >= 40:
                policy.reward(*late[t - 40], now=float(t))
            most = max(most, len(policy._contexts))
        policy.save(tmp_path / folder)
        files = b"".join((tmp_path / folder / f"model{i}.vw").read_bytes() for i in (0, 1))
        return out, policy.loss.tolist(), files, most

    default = play(selection.CONTEXTS_KEPT, "default")
    assert default[3] == 16
    every = play(10_000, "every")
    one = play(1, "one")
    assert every[3] > 400 and one[3] == 1
    assert default[:3] == every[:3] == one[:3]


def test_the_squared_errors_are_an_array_when_asked_and_an_edit_in_place_carries_on() -> None:
    """`loss` is kept as a plain list between updates and made an array only when asked (an array per
    update cost ~1 us per decision); the array handed out is what the next update continues from,
    so an edit in place counts as it did when `loss` was always an array."""
    actions = [{"id": f"v{i}", "features": {"f": float(i)}} for i in range(4)]

    def play(policy: Personalizer, start: int, n: int) -> None:
        for t in range(start, start + n):
            d = policy.rank({"u": {"x": float(t % 5)}}, actions, now=float(t))
            policy.reward(d.event_id, float(d.index == t % 4), now=float(t))

    a, b = Personalizer(seed=3), Personalizer(seed=3)
    play(a, 0, 60)
    play(b, 0, 60)
    assert isinstance(a.loss, np.ndarray) and a.loss.tolist() == b.loss.tolist() and a.loss.shape == (3,)
    a.loss[:] = a.loss + 1.0  # both models' errors up by one: the weights do not change
    b.loss = np.array([x + 1.0 for x in b.loss.tolist()])
    play(a, 60, 40)
    play(b, 60, 40)
    assert a.loss.tolist() == b.loss.tolist() and min(a.loss.tolist()) > 1.0
    assert a.weights().tolist() == b.weights().tolist()


def test_the_two_model_weights_are_the_general_formula_bit_for_bit() -> None:
    """The default mixture's two weights are computed without comprehensions; they must equal the
    general n-model formula exactly, also for infinite and NaN squared errors."""
    import math
    import random

    policy = Personalizer(seed=0)
    rng = random.Random(1)
    edges = [0.0, 5e-324, 1.0, 372.5, 745.1, 1e300, math.inf, math.nan]
    cases = [(a, b) for a in edges for b in edges]
    cases += [(rng.random() * 10 ** rng.randint(0, 4), rng.random() * 10 ** rng.randint(0, 4)) for _ in range(5000)]
    for a, b in cases:
        policy._loss = [a, b, 0.0]  # the ridge member (out of the mixture on these: weight 0) last
        low = min([a, b])
        w = [math.exp(-policy.eta * (x - low)) for x in (a, b)]
        assert repr(policy._current_weights()) == repr([x / sum(w) for x in w] + [0.0]), (a, b)


def test_a_negligible_model_learns_one_reward_in_eight_weighted_and_continues_after_save(monkeypatch, tmp_path) -> None:
    """Once a model's weight is below NEGLIGIBLE it is not asked at decision time and learns one
    reward in SPARSE_EVERY (8), with importance weight 8 (label probability 1/8) and its squared
    error counted 8 times; the count of rewards passed over is saved, so a loaded model continues
    exactly. With SPARSE_EVERY = 1 it learns every reward, as before this change."""
    from bandit import load_saved_policy
    from bandit.policies import personalizer as selection

    rng = np.random.default_rng(0)
    actions = [
        {"id": f"v{a}", "features": {"style": f"s{a % 3}", "f": round(float(rng.random()), 3)}} for a in range(6)
    ]
    segments = rng.integers(5, size=6000)
    noise = rng.random((6000, 10)).round(4)
    coins = rng.random(6000)
    # rewards linear in segment x action, ten dense features that do not matter: the -q cA model
    # wins and the -q ccA one's weight falls below 1e-12 after ~2,200 rewards
    events = [
        (
            {
                "user": {"seg": f"g{g}", "dev": f"d{t % 4}", "lang": f"l{t % 3}"},
                "now": {f"x{j}": float(v) for j, v in enumerate(row)},
            },
            g,
        )
        for t, (g, row) in enumerate(zip(segments, noise))
    ]

    def play(p: Personalizer, lo: int, hi: int) -> list:
        out = []
        for t in range(lo, hi):
            context, g = events[t]
            d = p.rank(context, actions, now=float(t))
            out.append((d.index, d.pmf))
            p.reward(d.event_id, float(coins[t] < (0.6 if d.index == g else 0.1)), now=float(t))
        return out

    learned = [0, 0]
    learn = pylibvw.vw.learn_multi

    def counting(vw, examples):
        for i, mine in enumerate(policy._vws):  # the first policy's models (not the loaded one's)
            if mine is vw:
                learned[i] += 1
        return learn(vw, examples)

    monkeypatch.setattr(pylibvw.vw, "learn_multi", counting)
    policy = Personalizer(seed=0)
    play(policy, 0, 4000)
    # every reward until the weight fell (~2,200), then about one in eight
    assert learned[0] == 4000 and 2200 < learned[1] < 3000, learned
    policy.save(tmp_path / "m")
    loaded = load_saved_policy(tmp_path / "m")
    assert loaded._skipped == policy._skipped
    assert (play(policy, 4000, 6000), policy.loss.tolist()) == (play(loaded, 4000, 6000), loaded.loss.tolist())
    monkeypatch.setattr(selection, "SPARSE_EVERY", 1)
    learned[:] = [0, 0]
    policy = Personalizer(seed=0)
    play(policy, 0, 3000)
    assert policy.weights()[1] < 1e-10 and learned == [3000, 3000]


def test_kept_contexts_are_bounded_by_their_text_not_only_their_number(monkeypatch):
    """Large contexts (a client near the body limit): at most SHARED_CHARS of context text stays
    parsed, whatever CONTEXTS_KEPT allows; rewards still learn (a dropped context is parsed again).
    The budget is made small here so that the test stays fast."""
    from bandit import make_policy
    from bandit.policies import personalizer as module, vw as vw_policy

    monkeypatch.setattr(vw_policy, "SHARED_CHARS", 20_000)
    policy = make_policy("vw", seed=0)
    actions = [{"id": f"a{k}", "features": {"k": float(k)}} for k in range(3)]
    kept_counts = []
    for i in range(module.CONTEXTS_KEPT + 4):
        big = {"ctx": {f"f{j}": float((i * 7919 + j) % 1000) / 1000 for j in range(400)}}  # ~5,000 chars
        d = policy.rank(big, actions, now=float(i))
        policy.reward(d.event_id, 1.0, now=float(i))
        assert sum(len(text) for text in policy._contexts) == policy._context_chars <= 20_000
        kept_counts.append(len(policy._contexts))
    assert max(kept_counts) < module.CONTEXTS_KEPT and policy.n_learned == module.CONTEXTS_KEPT + 4
