"""Replay input that must never silently lie: non-finite values, bad lines, damaged files, BOMs, nested
values, default policies and output folders (CLI behaviour through the real console script).

Key correctness tests against the simulator's exact ground truth (simulations.world.environment).

One --force rule for every command that replaces an output folder (issue 27): what artbandit wrote
is replaced, the files the user added stay. extract, variants, simulate and demo are checked in their
own test files; replay and evaluate here, on one small simulated log.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from simulations.online.runner import run_simulation
from simulations.ope import ColumnMapping, OPEError, open_log, replay_log, run_replay
from tests.replay_helpers import FeaturePolicy, feature_pmf, simulator_log


def dsjson_lines(n: int, seed: int = 0) -> list[dict]:
    """n DSJSON decisions of a uniform logger over 3 actions; reward 1 w.p. 0.2/0.4/0.6 by action."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        a = int(rng.integers(3))
        r = float(rng.random() < (0.2, 0.4, 0.6)[a])
        out.append(
            {
                "_label_cost": -r,
                "_label_probability": 1 / 3,
                "_labelIndex": a,
                "EventId": f"e{i}",
                "a": [a + 1] + [j + 1 for j in range(3) if j != a],
                "p": [1 / 3] * 3,
                "c": {"User": {"seg": f"s{i % 4}"}, "_multi": [{"id": f"x{j}"} for j in range(3)]},
            }
        )
    return out


def write_lines(path, objs, raw: dict[int, str] | None = None):
    lines = [json.dumps(o) for o in objs]
    for i, text in (raw or {}).items():
        lines[i] = text
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("value", ["NaN", "-Infinity", "Infinity"])
def test_non_finite_dsjson_cost_is_refused_with_its_line_or_skipped_and_counted(tmp_path, value):
    objs = dsjson_lines(3000)
    bad = json.dumps(objs[1234]).replace(f'"_label_cost": {objs[1234]["_label_cost"]}', f'"_label_cost": {value}')
    assert value in bad
    path = write_lines(tmp_path / "log.json", objs, {1234: bad})
    with pytest.raises(OPEError, match=r"log.json:1235: _label_cost .* is not a finite number"):
        replay_log(path, ["uniform"], ["ips", "snips"])
    result = replay_log(path, ["uniform"], ["ips", "snips"], max_bad_lines=1)
    assert result["log"]["events"] == 2999
    assert result["log"]["bad_lines"]["count"] == 1 and "log.json:1235" in result["log"]["bad_lines"]["examples"][0]
    # the estimate is the one of the log without that line, and a number
    clean = write_lines(tmp_path / "clean.json", objs[:1234] + objs[1235:])
    expected = replay_log(clean, ["uniform"], ["ips", "snips"])
    for name in ("ips", "snips"):
        got = result["policies"][0]["estimates"][name]["value"]
        assert np.isfinite(got) and got == expected["policies"][0]["estimates"][name]["value"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("action,reward,propensity\na,1,0.5\nb,nan,0.5\n", "row 2: reward 'nan' is not a finite number"),
        ("action,reward,propensity\na,1,0.5\nb,1,inf\n", "row 2: propensity 'inf' is not in (0, 1]"),
        ("action,reward,propensity\na,1,0.5\nb,1,NaN\n", "row 2: propensity 'NaN' is not in (0, 1]"),
        ("action,reward,propensity\na,-Infinity,0.5\nb,1,0.5\n", "row 1: reward '-Infinity' is not a finite number"),
    ],
)
def test_non_finite_table_values_are_refused(tmp_path, content, message):
    path = tmp_path / "log.csv"
    path.write_text(content)
    for policies, estimators in ((["uniform"], ["ips"]), (["uniform", "vw:epsilon"], ["ips", "dr"])):
        with pytest.raises(OPEError) as err:
            replay_log(path, policies, estimators)
        assert message in str(err.value)


def test_jsonl_non_finite_reward_and_skipping(tmp_path):
    rows = [{"action": "a" if i % 2 else "b", "reward": i % 3 == 0, "propensity": 0.5, "u": i} for i in range(20)]
    lines = [json.dumps(r) for r in rows]
    lines[6] = '{"action": "a", "reward": Infinity, "propensity": 0.5, "u": 6}'
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(OPEError, match=r"log.jsonl:7: reward inf is not a finite number"):
        replay_log(path, ["uniform"], ["ips"])
    result = replay_log(path, ["uniform"], ["ips"], max_bad_lines=3)
    assert result["log"]["events"] == 19 and result["log"]["bad_lines"]["count"] == 1


def test_max_bad_lines_counts_up_to_n_then_stops_with_file_and_line(tmp_path, console):
    objs = dsjson_lines(400, seed=3)
    raw = {10: "{not json", 200: '{"_label_cost": 0, "c": {"_multi": []}}', 300: '"just a string"'}
    path = write_lines(tmp_path / "log.json", objs, raw)
    proc = console("replay", path, "--policy", "uniform", "--estimator", "ips", "-o", tmp_path / "o0", "-q")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "log.json:11: invalid JSON" in proc.stderr and "Traceback" not in proc.stderr
    proc = console(
        "replay", path, "--policy", "uniform", "--estimator", "ips", "-o", tmp_path / "o2", "--max-bad-lines", "2", "-q"
    )
    assert proc.returncode == 1 and "log.json:301" in proc.stderr and "more than --max-bad-lines 2" in proc.stderr
    assert not (tmp_path / "o2").exists()  # nothing half-written
    proc = console(
        "replay", path, "--policy", "uniform", "--estimator", "ips", "-o", tmp_path / "o3", "--max-bad-lines", "3"
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "o3" / "replay.json").read_text())
    bad = doc["log"]["bad_lines"]
    assert bad["count"] == 3 and bad["limit"] == 3 and doc["log"]["events"] == 397
    assert [e.split(": ")[0].rsplit("/", 1)[-1] for e in bad["examples"]] == [
        "log.json:11",
        "log.json:201",
        "log.json:301",
    ]
    assert "skipped 3 bad lines" in proc.stderr


def _sqlite_log(path, n=60):
    from bandit import make_policy

    pol = make_policy("uniform", seed=0, log=path)
    for i in range(n):
        d = pol.rank(
            {"user": {"seg": f"s{i % 3}"}},
            [{"id": "a", "features": {"x": 1.0}}, {"id": "b", "features": {"x": 2.0}}],
            now=float(i),
        )
        pol.reward(d.event_id, float(i % 2), now=float(i))
    pol.close()
    return path


def _damaged(tmp_path, name, sql):
    path = _sqlite_log(tmp_path / name)
    db = sqlite3.connect(path)
    db.execute(sql)
    db.commit()
    db.close()
    return path


def _random_bytes(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return path


def _text(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


INTERNAL_ERRORS = {
    # name: (make the file, extra args, what the one-line error says)
    "csv field over 131,072 chars": (
        lambda t: _text(
            t, "long.csv", b"action,reward,propensity,note\na,1,0.5," + b"x" * 140_000 + b"\nb,0,0.5,\xff\n"
        ),
        ["--policy", "vw:epsilon"],
        "long.csv:3: not UTF-8 text (byte 0xff",
    ),
    "latin-1 byte in a csv": (
        lambda t: _text(t, "latin.csv", "action,reward,propensity,city\na,1,0.5,Montréal\n".encode("latin-1")),
        ["--estimator", "dr"],
        "latin.csv:2: not UTF-8 text (byte 0xe9 at column 14)",
    ),
    "random bytes": (lambda t: _random_bytes(t, "noise.bin"), [], "noise.bin: cannot tell the log format"),
    "random bytes as csv": (lambda t: _random_bytes(t, "noise.csv"), [], "noise.csv:1: not UTF-8 text"),
    "bad utf-8 dsjson line": (
        lambda t: _text(
            t,
            "bad.json",
            json.dumps(dsjson_lines(1)[0]).encode()
            + b"\n"
            + json.dumps(dsjson_lines(1)[0]).replace('"s0"', '"\\u00e9"').encode().replace(b"\\u00e9", b"\xe9")
            + b"\n",
        ),
        [],
        "bad.json:2: not UTF-8 text (byte 0xe9",
    ),
    'dsjson "a": ["x","y"]': (
        lambda t: write_lines(t / "a.json", [dict(dsjson_lines(1)[0], a=["x", "y", "z"])]),
        [],
        'a.json:1: "a"/"p" must be action numbers and probabilities',
    ),
    "sqlite broken context json": (
        lambda t: _damaged(t, "ctx.sqlite", "UPDATE events SET context='{broken' WHERE seq=7"),
        ["--estimator", "dr"],
        "ctx.sqlite: event 7: context is not valid JSON",
    ),
    "sqlite reward not a number": (
        lambda t: _damaged(t, "rew.sqlite", "UPDATE events SET reward='lots' WHERE seq=9"),
        [],
        "rew.sqlite: event 9: reward 'lots' is not a finite number",
    ),
}


@pytest.mark.parametrize("case", list(INTERNAL_ERRORS))
def test_damaged_logs_are_one_line_errors_not_internal_errors(tmp_path, console, case):
    make, args, message = INTERNAL_ERRORS[case]
    path = make(tmp_path)
    proc = console("replay", path, *args, "-o", tmp_path / "out", "-q")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert message in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_long_csv_field_is_read_when_it_is_valid(tmp_path):
    path = _text(tmp_path, "long.csv", b"action,reward,propensity,note\na,1,0.5," + b"x" * 140_000 + b"\nb,0,0.5,y\n")
    events = list(open_log(path))
    assert [e.reward for e in events] == [1.0, 0.0]
    assert events[0].context["context"]["note"] == "x" * 140_000
    # a row longer than pyarrow's block, after many short rows: read on with larger blocks, nothing lost
    rows = [f"{'ab'[i % 2]},{i % 5 == 0:d},0.5,n{i}" for i in range(40_000)]
    rows[30_000] = "a,1,0.5," + "y" * 3_000_000
    path.write_text("action,reward,propensity,note\n" + "\n".join(rows) + "\n")
    for policies in (["uniform"], ["uniform", "vw:epsilon"]):
        result = replay_log(path, policies, ["ips"], chunk_size=7000)
        assert result["log"]["events"] == 40_000
    events = list(open_log(path, chunk_size=7000))
    assert [e.context["context"]["note"][:2] for e in events[29_999:30_002]] == ["n2", "yy", "n3"]
    assert sum(e.reward for e in events) == sum(float(r.split(",")[1]) for r in rows)


def test_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    body = "action,reward,propensity,città\nb,1,0.25,Roma\na,0,0.5,Milano\n"
    path = _text(tmp_path, "bom.csv", b"\xef\xbb\xbf" + body.encode())
    events = list(open_log(path))
    assert [(e.action_ids[e.chosen_index], e.reward, e.probability) for e in events] == [
        ("b", 1.0, 0.25),
        ("a", 0.0, 0.5),
    ]
    assert events[0].context == {"context": {"città": "Roma"}}
    jl = _text(tmp_path, "bom.jsonl", b"\xef\xbb\xbf" + b'{"action": "a", "reward": 1, "propensity": 0.5}\n')
    assert [e.reward for e in open_log(jl)] == [1.0]


def test_nested_values_where_an_id_or_feature_is_expected_are_refused(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"action": [["a", "b"], ["c"]], "reward": [1.0, 0.0], "propensity": [0.5, 0.5]}),
        tmp_path / "nested.parquet",
    )
    with pytest.raises(OPEError, match=r"column 'action' holds nested values \(list<"):
        replay_log(tmp_path / "nested.parquet", ["uniform"], ["ips"])
    jl = tmp_path / "nested.jsonl"
    jl.write_text(
        '{"action": "a", "reward": 1, "propensity": 0.5}\n{"action": {"id": "b"}, "reward": 0, "propensity": 0.5}\n'
    )
    with pytest.raises(OPEError, match=r"nested.jsonl:2: no action id"):
        replay_log(jl, ["uniform"], ["ips"])
    jl.write_text('{"action": "a", "reward": 1, "propensity": 0.5, "tags": [{"k": 1}]}\n')
    with pytest.raises(OPEError, match=r"nested.jsonl:1: column 'tags' holds a nested list"):
        replay_log(jl, ["uniform", "vw:epsilon"], ["ips"])
    jl.write_text('{"action": "a", "reward": 1, "propensity": 0.5, "cands": [["a"], ["b"]]}\n')
    with pytest.raises(OPEError, match=r"nested.jsonl:1: the candidates list holds nested values"):
        replay_log(jl, ["uniform"], ["ips"], mapping=ColumnMapping(candidates_col="cands"))
    # a list of scalars stays a feature vector, an object a namespace
    jl.write_text('{"action": "a", "reward": 1, "propensity": 0.5, "v": [1, 2], "user": {"age": 3}}\n')
    (ev,) = open_log(jl)
    assert ev.context == {"context": {"v0": 1.0, "v1": 2.0}, "user": {"age": 3.0}}


def test_replay_log_dash_o_out_works_with_default_policies(tmp_path, console):
    path = _sqlite_log(tmp_path / "events.sqlite", n=300)
    proc = console("replay", path, "-o", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert [p["name"] for p in doc["policies"]] == ["logged", "uniform", "best-fixed"]
    assert doc["settings"]["estimators"] == ["snips", "dr"]
    logged = doc["policies"][0]["estimates"]
    # the logging policy evaluated on its own log: weights 1, SNIPS and DR are its mean reward
    assert logged["snips"]["value"] == pytest.approx(doc["log"]["logged_reward_mean"])
    assert logged["dr"]["value"] == pytest.approx(doc["log"]["logged_reward_mean"])
    assert logged["snips"]["diagnostics"]["max_weight"] == 1.0
    for line in ("logged", "uniform", "best-fixed"):
        assert line in proc.stdout


def test_output_folder_rules(tmp_path, console):
    path = _sqlite_log(tmp_path / "events.sqlite", n=100)
    args = ["replay", path, "--policy", "uniform", "--estimator", "ips", "-q"]
    assert console(*args, "-o", tmp_path / "out").returncode == 0
    before = (tmp_path / "out" / "replay.json").read_bytes()
    proc = console(*args, "-o", tmp_path / "out")
    assert proc.returncode == 1 and "use --force" in proc.stderr and proc.stderr.count("\n") == 1
    proc = console(*args, "--estimator", "snips", "-o", tmp_path / "out")
    assert proc.returncode == 1 and "use --force" in proc.stderr
    assert (tmp_path / "out" / "replay.json").read_bytes() == before
    proc = console(*args, "--estimator", "snips", "-o", tmp_path / "out", "--force")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "replay.json").read_text())
    assert doc["settings"]["estimators"] == ["ips", "snips"]
    # a folder artbandit did not write: refused even with --force, and left as it was
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.txt").write_text("precious")
    proc = console(*args, "-o", mine, "--force")
    assert proc.returncode == 1 and "not written by artbandit" in proc.stderr
    assert os.listdir(mine) == ["thesis.txt"]
    # the output may not contain the input
    proc = console("replay", tmp_path / "events.sqlite", "--policy", "uniform", "-o", tmp_path, "--force", "-q")
    assert proc.returncode == 1 and "contains an input" in proc.stderr


def test_failed_run_leaves_the_earlier_output_whole(tmp_path):
    from simulations.ope import run_replay

    path = _sqlite_log(tmp_path / "events.sqlite", n=100)
    run_replay(path, ["uniform"], ["ips"], tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    with pytest.raises(OPEError, match="unknown estimator"):
        run_replay(path, ["uniform"], ["nope"], tmp_path / "out", force=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_ragged_csv_rows_are_bad_lines_with_their_line_number(tmp_path):
    rows = [f"{'ab'[i % 2]},{i % 3 == 0:d},0.5" for i in range(5000)]
    rows[4321] = "a,1"  # too few fields, deep enough that earlier rows were already read columnar
    rows[4400] = "b,0,0.5,extra"
    path = tmp_path / "log.csv"
    path.write_text("action,reward,propensity\n" + "\n".join(rows) + "\n")
    with pytest.raises(OPEError, match=r"log.csv:4323: 2 fields where the header has 3"):
        replay_log(path, ["uniform"], ["ips"], chunk_size=1000)
    result = replay_log(path, ["uniform"], ["ips"], chunk_size=1000, max_bad_lines=2)
    assert result["log"]["events"] == 4998 and result["log"]["bad_lines"]["count"] == 2
    kept = [r for i, r in enumerate(rows) if i not in (4321, 4400)]
    rewards = np.array([float(r.split(",")[1]) for r in kept])
    assert result["policies"][0]["estimates"]["ips"]["value"] == pytest.approx(np.mean(rewards * 0.5 / 0.5))


def test_parquet_non_finite_values_are_bad_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "action": ["a", "b", "a", "b"],
            "reward": [1.0, float("nan"), 0.0, 1.0],
            "propensity": [0.5, 0.5, float("inf"), 0.5],
            "u": [1, 2, 3, 4],
        }
    )
    pq.write_table(table, tmp_path / "log.parquet")
    with pytest.raises(OPEError, match=r"log.parquet: row 2: reward nan is not a finite number"):
        replay_log(tmp_path / "log.parquet", ["uniform"], ["ips"])
    result = replay_log(tmp_path / "log.parquet", ["uniform", "vw:epsilon"], ["ips"], max_bad_lines=2)
    assert result["log"]["events"] == 2
    assert [e.split(": ", 1)[1] for e in result["log"]["bad_lines"]["examples"]] == [
        "row 2: reward nan is not a finite number",
        "row 3: propensity inf is not in (0, 1]",
    ]


SEEDS = range(5)
TARGETS = [FeaturePolicy("warmth", 8.0, "warm-soft"), FeaturePolicy("face_area", float("inf"), "faces-greedy")]


def mapping(actions_file):
    return ColumnMapping(
        context_cols=["user", "title"],
        candidates_col="candidates",
        timestamp_col="time",
        action_features=actions_file,
        action_key="variant",
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
    m = ColumnMapping(
        action_col="action_id",
        propensity_col="probability",
        candidates_col="action_ids",
        context_cols=["context"],
        timestamp_col="time",
    )
    a, b = open_log(db), open_log(tmp_path / "events.csv", mapping=m)
    for x, y in zip(a, b):
        assert (x.action_ids, x.chosen_index, x.probability, x.reward) == (
            y.action_ids,
            y.chosen_index,
            y.probability,
            y.reward,
        )
        assert x.context == y.context


def test_progressive_replay_of_learning_policies(tmp_path):
    """A VW policy learning through a uniform log beats uniform; with learn_on=matched it sees fewer events."""
    from tests.replay_helpers import simulator_log as slog

    path = tmp_path / "log.jsonl"
    info = slog(path, n=6000, seed=8, logger="uniform", targets=[])
    res = run_replay(
        path, ["vw:squarecb", "uniform", "best-fixed"], ["snips"], None, mapping=mapping(info["actions"]), seed=0
    )
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
        res = run_replay(
            path, ["vw:squarecb"], ["replay"], None, mapping=mapping(info["actions"]), seed=seed, learn_on="matched"
        )
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
    from simulations.ope import open_log
    from simulations.ope.rewardmodel import VW_ARGS, CrossFitRewardModel, action_text, context_text, fold_of
    from simulations.world.environment import Environment
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
        expected = [
            other.predict(f"{context_text(ev.context)} {action_text(a, f)}")
            for a, f in zip(ev.action_ids, ev.action_features)
        ]
        assert q.tolist() == expected
        spread.append(q.max() - q.min())
    model.close()
    for w in plain:
        w.finish()
    assert sum(model.trained) == len(events) and min(model.trained) > 600
    assert np.mean(spread) > 0.01  # the models learned something that tells actions apart


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("force") / "sim"
    run_simulation("segments", ["uniform"], impressions=400, seed=0, log_policy="uniform", out_dir=out)
    return out / "events.sqlite"


def test_replay_force_keeps_the_users_files(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "replay"
    run_replay(log, ["uniform"], ["ips"], out_dir=out)
    (out / "notes.txt").write_text("mine")
    run_replay(log, ["uniform"], ["ips", "snips"], out_dir=out, force=True)
    assert json.loads((out / "replay.json").read_text())["settings"]["estimators"] == ["ips", "snips"]
    assert (out / "notes.txt").read_text() == "mine"


def test_evaluate_force_keeps_the_users_files(log: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "evaluation"
    args = ["evaluate", log, "-o", out, "-q", "--workers", "1", "--policy", "uniform", "--buckets", "1"]
    code, _, err = cli(args)
    assert code == 0, err
    (out / "notes.txt").write_text("mine")
    code, _, err = cli([*args, "--seed", "1", "--force"])
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / ".artbandit-output.json").read_text())["input_key"]  # artbandit's own, rewritten
