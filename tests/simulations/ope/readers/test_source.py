"""Readers, the generic column mapping, the CLI and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulations.errors import SimulationError
from simulations.ope import ColumnMapping, open_log, run_replay
from tests.replay_helpers import (
    HashedSegmentPolicy,
    TablePolicy,
    make_world,
    simulate_log,
    smooth_pi,
    write_foreign_csv,
    write_jsonl,
)


def test_foreign_csv_layout_with_hashed_features_and_own_propensity_column(tmp_path, cli):
    world = make_world(seed=5)
    pi = smooth_pi(world)
    log = simulate_log(world, 6000, "softmax", 2)
    path = write_foreign_csv(tmp_path / "export.csv", log, world)
    mapping = ColumnMapping(
        action_col="item_shown",
        reward_col="clicked",
        propensity_col="prob_logged",
        context_cols=["seg_*", "u_*"],
        timestamp_col="ts",
    )
    events = list(open_log(path, mapping=mapping, chunk_size=1000))
    assert len(events) == 6000
    ev = events[0]
    # candidates were not logged: the candidate set is every action seen, sorted
    assert ev.action_ids == [f"art-{a}" for a in range(world.k)]
    assert isinstance(ev.context["context"]["seg_hash"], str)  # hashed categorical stays a category
    assert isinstance(ev.context["context"]["u_age"], float)
    assert "uid_hash" not in ev.context["context"]  # not selected by the globs
    assert ev.probability == pytest.approx(log["propensity"][0])

    result = run_replay(
        path, [HashedSegmentPolicy(pi, "smooth")], ["ips", "snips", "dr"], tmp_path / "out", mapping=mapping
    )
    truth = world.value(pi)
    for name, e in result["policies"][0]["estimates"].items():
        assert e["low"] <= truth <= e["high"], (name, truth, e)

    code, out, err = cli(
        [
            "replay",
            str(path),
            "--policy",
            "uniform",
            "--estimator",
            "snips",
            "--action-col",
            "item_shown",
            "--reward-col",
            "clicked",
            "--propensity-col",
            "prob_logged",
            "--context-cols",
            "seg_*,u_*",
            "-o",
            str(tmp_path / "cli"),
            "--json",
        ]
    )
    assert code == 0, err
    doc = json.loads(out)
    e = doc["policies"][0]["estimates"]["snips"]
    assert e["low"] <= world.value(np.full(pi.shape, 1 / world.k)) <= e["high"]
    assert (tmp_path / "cli" / "replay.json").is_file() and (tmp_path / "cli" / "report.html").is_file()


def test_jsonl_and_parquet_give_the_same_events(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    world = make_world(seed=1)
    log = simulate_log(world, 500, "uniform", 0)
    jl = write_jsonl(tmp_path / "log.jsonl", log, world)
    rows = [json.loads(line) for line in jl.read_text().splitlines()]
    table = pa.Table.from_pylist([{**r, "segment": r["user"]["segment"], "user": None} for r in rows])
    pq.write_table(table.drop(["user"]), tmp_path / "log.parquet")
    m = ColumnMapping(candidates_col="candidates", timestamp_col="t", context_cols=["user"])
    a = list(open_log(jl, mapping=m, chunk_size=128))
    b = list(
        open_log(
            tmp_path / "log.parquet",
            mapping=ColumnMapping(candidates_col="candidates", timestamp_col="t", context_cols=["segment"]),
            chunk_size=100,
        )
    )
    assert open_log(tmp_path / "log.parquet").format == "parquet"
    assert len(a) == len(b) == 500
    for x, y in zip(a, b):
        assert (x.chosen_index, x.probability, x.reward, x.action_ids) == (
            y.chosen_index,
            y.probability,
            y.reward,
            y.action_ids,
        )
        assert x.context["user"]["segment"] == y.context["context"]["segment"]
    chunks = [len(c) for c in open_log(jl, mapping=m, chunk_size=128).chunks()]
    assert max(chunks) <= 128 and sum(chunks) == 500


def test_generic_dsjson(tmp_path):
    lines = [
        {
            "_label_cost": -1.0,
            "_label_probability": 0.5,
            "_label_Action": 2,
            "_labelIndex": 1,
            "a": [2, 1],
            "p": [0.5, 0.5],
            "EventId": "e1",
            "Timestamp": "2024-01-01T00:00:00Z",
            "c": {
                "User": {"age": 30, "tier": "gold"},
                "hour": 7,
                "_multi": [{"_tag": "red", "Art": {"warm": 0.9}}, {"_tag": "blue", "Art": {"warm": 0.1}}],
            },
        },
        {"EventId": "e1", "RewardValue": 1.0},  # a reward-only line: skipped
        {
            "_label_cost": 0.0,
            "_label_probability": 0.25,
            "_label_Action": 1,
            "a": [1, 2],
            "p": [0.25, 0.75],
            "c": {"User": {"age": 20}, "_multi": [{"_tag": "red"}, {"_tag": "blue"}]},
        },
    ]
    path = tmp_path / "log.json"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    src = open_log(path)
    assert src.format == "dsjson"
    evs = list(src)
    assert len(evs) == 2
    e = evs[0]
    assert e.action_ids == ["red", "blue"] and e.chosen_index == 1 and e.reward == 1.0
    assert e.context == {"User": {"age": 30.0, "tier": "gold"}, "context": {"hour": 7.0}}
    assert e.action_features[0] == {"warm": 0.9}
    assert e.pmf == [0.5, 0.5] and e.time == pytest.approx(1704067200.0)
    assert evs[1].chosen_index == 0 and evs[1].probability == 0.25 and evs[1].pmf == [0.25, 0.75]


def test_a_learning_policy_learns_on_every_event_or_only_on_matches(tmp_path):
    world = make_world(seed=2)
    log = simulate_log(world, 800, "uniform", 0)
    path = write_jsonl(tmp_path / "log.jsonl", log, world)
    m = ColumnMapping(candidates_col="candidates")
    every, matched = TablePolicy(smooth_pi(world)), TablePolicy(smooth_pi(world))
    r1 = run_replay(path, [every], ["replay"], None, mapping=m, learn_on="all")
    r2 = run_replay(path, [matched], ["replay"], None, mapping=m, learn_on="matched")
    assert every.learned == 800
    assert matched.learned == r2["policies"][0]["estimates"]["replay"]["diagnostics"]["events_used"] < 400
    assert r1["policies"][0]["estimates"]["replay"]["value"] == r2["policies"][0]["estimates"]["replay"]["value"]


def test_saved_model_is_evaluated_frozen(tmp_path):
    from bandit import make_policy

    world = make_world(seed=2)
    log = simulate_log(world, 600, "uniform", 0)
    path = write_jsonl(tmp_path / "log.jsonl", log, world)
    model = make_policy("vw:squarecb", seed=0)
    model.save(tmp_path / "model")
    m = ColumnMapping(candidates_col="candidates")
    r = run_replay(path, [f"model:{tmp_path / 'model'}", "vw:squarecb"], ["ips"], None, mapping=m)
    frozen, learning = (p["estimates"]["ips"] for p in r["policies"])
    # an untrained model that never learns is uniform (all scores tie): mean weight stays ~1 with max 1
    assert r["policies"][0]["name"] == "model:model"
    assert frozen["diagnostics"]["max_weight"] == pytest.approx(1.0, abs=1e-6)
    assert learning["diagnostics"]["max_weight"] > 1.5


@pytest.mark.parametrize(
    "content, args, message",
    [
        ("action,reward,propensity\na,1,0.5\nb,0,1.5\n", [], "row 2: propensity '1.5' is not in (0, 1]"),
        ("act,reward\na,1\n", [], "no column 'action' (--action-col)"),
        ("action,reward,propensity\na,yes,0.5\n", [], "row 1: reward 'yes' is not a number"),
        ("action,reward\na,1\n", ["--candidates-col", "cands"], "no column 'cands' (--candidates-col)"),
        ("action,reward\na,1\n", ["--context-cols", "user_*"], "--context-cols 'user_*' matches no column"),
        ("action,reward\na,1\n", ["--policy", "nope"], "unknown policy 'nope'"),
        ("action,reward\na,1\n", ["--action-features", "missing.csv"], "missing.csv: no such action-features file"),
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, cli, content, args, message):
    path = tmp_path / "log.csv"
    path.write_text(content)
    if "--policy" not in args:
        args = args + ["--policy", "uniform"]
    code, out, err = cli(["replay", str(path), *args, "-o", str(tmp_path / "o"), "-q"])
    assert code == 1
    assert err.startswith("Error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err


def test_unreadable_logs_are_one_line_errors(tmp_path, cli):
    bad = tmp_path / "log.jsonl"
    bad.write_text('{"action": "a", "reward": 1}\n{not json\n')
    code, _, err = cli(["replay", str(bad), "--policy", "uniform", "-o", str(tmp_path / "o")])
    assert code == 1 and "log.jsonl:2: invalid JSON" in err and err.count("\n") == 1
    fake = tmp_path / "events.sqlite"
    fake.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    code, _, err = cli(["replay", str(fake), "--policy", "uniform", "-o", str(tmp_path / "o")])
    assert code == 1 and "events.sqlite" in err and err.count("\n") == 1
    code, _, err = cli(["replay", str(tmp_path / "none.csv"), "--policy", "uniform", "-o", "x"])
    assert code == 1 and "no such log file" in err
    with pytest.raises(SimulationError, match="unknown estimator"):
        run_replay(bad, ["uniform"], ["switch-dr"])


def test_cli_choices_are_the_library_names():
    from artbandit.cli.replay import replay
    from safeio.engine import ENGINES
    from simulations.ope.choices import LEARN_ON
    from simulations.ope.estimators import ESTIMATORS
    from simulations.ope.readers import FORMATS

    choices = {p.name: tuple(p.type.choices) for p in replay.params if hasattr(p.type, "choices")}
    assert choices == {"fmt": FORMATS, "estimators": ESTIMATORS, "learn_on": LEARN_ON, "engine": ENGINES}


def test_cli_bootstrap_and_learn_matched(tmp_path, cli):
    world = make_world(seed=3)
    log = simulate_log(world, 1500, "uniform", 4)
    path = write_jsonl(tmp_path / "log.jsonl", log, world)
    code, out, err = cli(
        [
            "replay",
            str(path),
            "--policy",
            "uniform",
            "--policy",
            "best-fixed",
            "--estimator",
            "ips",
            "--estimator",
            "replay",
            "--candidates-col",
            "candidates",
            "--bootstrap",
            "100",
            "--seed",
            "2",
            "--learn",
            "matched",
            "-o",
            str(tmp_path / "o"),
            "--json",
        ]
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["settings"]["learn_on"] == "matched" and doc["settings"]["bootstrap"] == 100
    assert [p["name"] for p in doc["policies"]] == ["uniform", "best-fixed"]
    for p in doc["policies"]:
        for e in p["estimates"].values():
            assert e["interval"] == "bootstrap" and e["low"] <= e["value"] <= e["high"]
    # best-fixed picks per event the candidate with the best logged mean: it beats uniform here
    uni, best = (p["estimates"]["ips"]["value"] for p in doc["policies"])
    assert best > uni


def test_zero_logged_from_pmf_text_matches_decoding():
    # the SQLite reader leaves pmfs as JSON text; the zero check on the text must agree with decoding
    import random

    from simulations.ope.readers import ReplayEvent

    rng = random.Random(0)
    values = [0.0, -0.0, 1e-05, 1e-300, 0.05, 0.1, 0.25, 0.5, 1.0, 0.001, 10.0 / 3]
    cases = [[0.0], [1.0], [], [0.5, 0.0], [0.0, 0.5], [0.05, 0.95]]
    cases += [[rng.choice(values) for _ in range(rng.randint(1, 9))] for _ in range(2000)]
    for pmf in cases:
        text = "[" + ",".join(repr(float(p)) for p in pmf) + "]"  # EventLog's encoding
        ev = ReplayEvent(None, [f"a{i}" for i in range(len(pmf))], None, 0, 1.0, 0.0, pmf_text=text)
        expected = [i for i, p in enumerate(pmf) if p <= 0] if pmf else None
        assert ev.zero_logged() == expected, text
        assert ev.pmf == (pmf or None)


def test_sqlite_time_window_reads_exactly_the_events_inside_it(tmp_path):
    """open_log(window=(since, until)): events logged at since <= time < until, no others (evaluate's
    "last N hours"); a window on a format without logged times is a one-line refusal."""
    import orjson

    from bandit.log.eventlog import EventLog
    from simulations.ope.errors import OPEError
    from simulations.ope.readers import open_log

    path = tmp_path / "events.sqlite"
    actions = [orjson.dumps({"id": a, "features": {"k": i}}).decode() for i, a in enumerate(("x", "y"))]
    with EventLog(path) as log:
        for i in range(10):  # one event every 100 s, from t=1000
            log.append(
                f"e{i}",
                1000.0 + 100 * i,
                "v1",
                "vw:select",
                None,
                "{}",
                ("x", "y"),
                actions,
                [0.5, 0.5],
                i % 2,
                "xy"[i % 2],
                0.5,
            )
            log.set_reward(f"e{i}", float(i), 1000.0 + 100 * i + 1, False)

    def rewards(window):
        src = open_log(path, window=window)
        return [ev.reward for ev in src], src.approx_events()

    assert rewards(None) == ([float(i) for i in range(10)], 10)
    assert rewards((1200.0, 1500.0)) == ([2.0, 3.0, 4.0], 3)  # start inclusive, end exclusive
    assert rewards((1250.0, None)) == ([3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 7)
    assert rewards((None, 1100.0)) == ([0.0], 1)
    assert rewards((5000.0, None)) == ([], 0)
    csv = tmp_path / "log.csv"
    csv.write_text("action,reward,propensity\nx,1,0.5\n")
    with pytest.raises(OPEError, match="time window applies to artbandit's SQLite event log"):
        open_log(csv, window=(0.0, None))
