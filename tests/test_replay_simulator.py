"""Key correctness tests against the simulator's exact ground truth (simulations.world.environment)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from simulations.ope import ColumnMapping, run_replay
from tests.replay_helpers import FeaturePolicy, feature_pmf, simulator_log

SEEDS = range(5)
TARGETS = [FeaturePolicy("warmth", 8.0, "warm-soft"), FeaturePolicy("face_area", float("inf"), "faces-greedy")]


def mapping(actions_file):
    return ColumnMapping(
        context_cols=["user", "title"], candidates_col="candidates", timestamp_col="time",
        action_features=actions_file, action_key="variant",
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Per logger and seed: the truth of each target and run_replay's estimates."""
    out = {}
    for logger in ("uniform", "softmax"):
        for seed in SEEDS:
            path = tmp_path_factory.mktemp(f"{logger}{seed}") / "log.jsonl"
            info = simulator_log(path, n=2500, seed=seed, logger=logger, targets=TARGETS)
            ests = ["ips", "snips", "dr"] + (["replay"] if logger == "uniform" else [])
            result = run_replay(path, TARGETS, ests, None, mapping=mapping(info["actions"]), seed=seed)
            out[logger, seed] = (info, result)
    return out


@pytest.mark.parametrize("logger", ["uniform", "softmax"])
def test_intervals_cover_the_simulators_true_value(runs, logger):
    names = ["ips", "snips", "dr"] + (["replay"] if logger == "uniform" else [])
    covered = {n: 0 for n in names}
    errors = {n: [] for n in names}
    trials = 0
    for seed in SEEDS:
        info, result = runs[logger, seed]
        for j, pol in enumerate(result["policies"]):
            truth = info["truth"][j]
            trials += 1
            for n in names:
                e = pol["estimates"][n]
                covered[n] += e["low"] <= truth <= e["high"]
                errors[n].append(e["value"] - truth)
    for n in names:
        # 10 intervals at nominal 95%: at least 8 must cover (P(fewer) ~ 1% for a correct interval)
        assert covered[n] >= trials - 2, (logger, n, covered[n], trials)
    for n in ("ips", "dr"):  # unbiased: the mean error over runs is within its own noise
        err = np.array(errors[n])
        assert abs(err.mean()) < 3 * err.std(ddof=1) / np.sqrt(len(err)) + 1e-3, (logger, n, err)


def test_diagnostics_on_simulator_logs(runs):
    info, result = runs["uniform", 0]
    for pol in result["policies"]:
        d = pol["estimates"]["ips"]["diagnostics"]
        assert d["events"] == 2500 and d["events_used"] == 2500
        assert d["mean_weight"] == pytest.approx(1.0, abs=0.2)  # E[w] = 1; sd(w) ~ 2.2 for the greedy one
        assert d["deterministic_share"] == 0.0
        r = pol["estimates"]["replay"]["diagnostics"]
        assert 250 < r["events_used"] < 900  # about n / (number of variants) events matched
    # a deterministic target on a uniform log: weight = number of candidates when it agrees, else 0
    greedy = result["policies"][1]["estimates"]["ips"]["diagnostics"]
    assert greedy["max_weight"] == pytest.approx(info["kmax"])


def test_replay_on_a_uniform_log_equals_the_online_ctr(tmp_path):
    """Li et al.: replaying a fixed policy on uniformly random traffic estimates its online CTR."""
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    target = FeaturePolicy("face_area", float("inf"), "faces-greedy")
    path = tmp_path / "log.jsonl"
    info = simulator_log(path, n=8000, seed=21, logger="uniform", targets=[target])
    result = run_replay(path, [target], ["replay"], tmp_path / "out", mapping=mapping(info["actions"]), seed=3)
    e = result["policies"][0]["estimates"]["replay"]

    env = Environment(load_scenario("segments"), seed=21)  # the same traffic, served online by the target
    rng = np.random.default_rng(5)
    clicks = n = 0
    for imp in env.impressions(8000):
        pmf = feature_pmf(imp.actions, "face_area", float("inf"))
        a = int(rng.choice(len(pmf), p=pmf))
        clicks += env.outcome(imp, a)[0]
        n += 1
    online = clicks / n
    assert e["low"] <= online <= e["high"], (online, e)
    assert e["high"] - e["low"] < 0.06
    saved = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert saved["schema"] == "artbandit.replay/1"
    assert saved["policies"][0]["estimates"]["replay"]["value"] == pytest.approx(e["value"])
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 2 and "faces-greedy" in html


def test_sqlite_log_from_the_bandit_and_its_dsjson_export_agree_with_the_truth(tmp_path):
    """A real artbandit log (make_policy('uniform', log=...)) read through bandit.EventLog."""
    from bandit import EventLog, make_policy
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    env = Environment(load_scenario("segments"), seed=4)
    db = tmp_path / "events.sqlite"
    logger = make_policy("uniform", seed=1, log=db)
    target = FeaturePolicy("warmth", 8.0)
    truth = 0.0
    n = 3000
    for imp in env.impressions(n):
        d = logger.rank(imp.context, imp.actions, user_id=imp.user_id, now=imp.time_s)
        logger.reward(d.event_id, float(env.outcome(imp, d.index)[0]), now=imp.time_s)
        truth += float(target.predict(imp.context, imp.actions) @ imp.click_p)
    logger.close()
    truth /= n
    res = run_replay(db, [target], ["ips", "snips"], None, seed=0)
    assert res["log"]["format"] == "sqlite" and res["log"]["events"] == n
    for name, e in res["policies"][0]["estimates"].items():
        assert e["low"] <= truth <= e["high"], (name, truth, e)
        assert e["diagnostics"]["zero_support_share"] == 0.0

    log = EventLog(db, readonly=True)
    log.export(tmp_path / "events.dsjson", fmt="dsjson")
    log.close()
    res2 = run_replay(tmp_path / "events.dsjson", [target], ["ips"], None, seed=0)
    assert res2["log"]["format"] == "dsjson"
    # same decisions, propensities and rewards: the same IPS estimate
    assert res2["policies"][0]["estimates"]["ips"]["value"] == pytest.approx(
        res["policies"][0]["estimates"]["ips"]["value"], rel=1e-6
    )
    # bandit's CSV export (nested values as JSON cells) maps back to the same events and contexts
    from simulations.ope import open_log

    log = EventLog(db, readonly=True)
    log.export(tmp_path / "events.csv", fmt="csv")
    log.close()
    m = ColumnMapping(action_col="action_id", propensity_col="probability", candidates_col="action_ids",
                      context_cols=["context"], timestamp_col="time")
    a, b = open_log(db), open_log(tmp_path / "events.csv", mapping=m)
    for x, y in zip(a, b):
        assert (x.action_ids, x.chosen_index, x.probability, x.reward) == (y.action_ids, y.chosen_index,
                                                                          y.probability, y.reward)
        assert x.context == y.context


def test_progressive_replay_of_learning_policies(tmp_path):
    """A VW policy learning through a uniform log beats uniform; with learn_on=matched it sees fewer events."""
    from tests.replay_helpers import simulator_log as slog

    path = tmp_path / "log.jsonl"
    info = slog(path, n=6000, seed=8, logger="uniform", targets=[])
    res = run_replay(path, ["vw:squarecb", "uniform", "best-fixed"], ["snips"], None,
                     mapping=mapping(info["actions"]), seed=0)
    by = {p["name"]: p["estimates"]["snips"] for p in res["policies"]}
    assert by["uniform"]["low"] <= info["ctr"] <= by["uniform"]["high"]
    assert by["vw:squarecb"]["value"] > by["uniform"]["value"]
    assert by["best-fixed"]["value"] > by["uniform"]["value"]
    curve = res["policies"][0]["curve"]
    assert curve["events"][-1] == 6000 and curve["snips"][-1] == pytest.approx(by["vw:squarecb"]["value"])


def test_li_replay_of_a_learning_policy_matches_its_online_run(tmp_path):
    """Li et al. (2011): replaying a learning policy on a uniform log, learning only on matched events,
    estimates the CTR it reaches online over as many impressions as there were matches. One learning
    run varies a lot (0.16-0.23 here), so the means over a few seeds are compared."""
    from bandit import make_policy
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    path = tmp_path / "log.jsonl"
    info = simulator_log(path, n=9000, seed=13, logger="uniform", targets=[])
    env = Environment(load_scenario("segments"), seed=13)  # the same world
    impressions = list(env.impressions(1500))
    replayed, online = [], []
    for seed in range(4):
        res = run_replay(path, ["vw:squarecb"], ["replay"], None, mapping=mapping(info["actions"]), seed=seed,
                         learn_on="matched")
        e = res["policies"][0]["estimates"]["replay"]
        replayed.append(e["value"])
        t = e["diagnostics"]["events_used"]
        rng = np.random.default_rng(100 + seed)
        policy = make_policy("vw:squarecb", seed=seed)
        clicks = 0
        for imp in impressions[:t]:
            d = policy.rank(imp.context, imp.actions, now=imp.time_s)
            click = env.outcome(imp, d.index, rng)[0]
            policy.reward(d.event_id, float(click), now=imp.time_s)
            clicks += click
        online.append(clicks / t)
    assert abs(np.mean(replayed) - np.mean(online)) < 0.04, (replayed, online)
    assert np.mean(replayed) > info["ctr"] + 0.03  # it learned: better than the uniform logger


def test_reward_model_gives_what_vw_public_api_gives(tmp_path):
    """CrossFitRewardModel feeds VW through pylibvw for speed; its q values must be exactly those of
    two plain Workspaces fed the same text through learn/predict."""
    import vowpalwabbit

    from bandit import make_policy
    from simulations.world.environment import Environment
    from simulations.ope import open_log
    from simulations.ope.rewardmodel import VW_ARGS, CrossFitRewardModel, action_text, context_text, fold_of
    from simulations.world.scenarios import load_scenario

    env = Environment(load_scenario("segments"), seed=2)
    db = tmp_path / "events.sqlite"
    logger = make_policy("uniform", seed=1, log=db)
    for imp in env.impressions(1500):
        d = logger.rank(imp.context, imp.actions, now=imp.time_s)
        logger.reward(d.event_id, float(env.outcome(imp, d.index)[0]), now=imp.time_s)
    logger.close()
    events = list(open_log(db))
    model = CrossFitRewardModel(seed=3)
    plain = [vowpalwabbit.Workspace(f"{VW_ARGS} --random_seed 3") for _ in range(2)]
    for i, ev in enumerate(events):
        model.learn(i, ev)
        line = action_text(ev.action_ids[ev.chosen_index], ev.action_features[ev.chosen_index])
        plain[fold_of(i, 3)].learn(f"{ev.reward:.6g}{context_text(ev.context)} {line}")
    spread = []
    for i, ev in enumerate(events):
        q = model.predict(i, ev)
        other = plain[1 - fold_of(i, 3)]
        expected = [other.predict(f"{context_text(ev.context)} {action_text(a, f)}")
                    for a, f in zip(ev.action_ids, ev.action_features)]
        assert q.tolist() == expected
        spread.append(q.max() - q.min())
    model.close()
    for w in plain:
        w.finish()
    assert sum(model.trained) == len(events) and min(model.trained) > 600
    assert np.mean(spread) > 0.01  # the models learned something that tells actions apart
