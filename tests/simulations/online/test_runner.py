"""The simulated audience and `artbandit simulate`: learning, baselines, drift, cold start,
clickbait, determinism and errors, on fixed seeds with exact (probability-based) metrics.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulations.errors import SimulationError
from simulations.online.runner import run_simulation
from simulations.world.environment import Environment
from simulations.world.scenarios import load_scenario


@pytest.fixture(scope="module")
def segments_100k():
    """VW on the default scenario (tastes differ by segment), 100k impressions."""
    return run_simulation("segments", ["vw:squarecb"], impressions=100_000, seed=0, log_policy=None)


@pytest.fixture(scope="module")
def segments_20k():
    """Every default policy on the same 20k impressions."""
    return run_simulation(
        "segments", ["vw:squarecb", "linucb", "ts-per-title", "uniform"], impressions=20_000, seed=0, log_policy=None
    )


def test_vw_reaches_85_percent_of_oracle_by_100k(segments_100k):
    m = segments_100k
    vw = m["policies"]["vw:squarecb"]
    refs = m["references"]["click"]
    # by 100k impressions: the last 10% of the run
    assert vw["final_window"]["share_of_oracle_ctr"] >= 0.85
    # clear margins over one artwork for everyone (chosen in hindsight) and over uniform
    assert vw["final_window"]["expected_ctr"] >= 1.3 * refs["best_fixed"]["expected_ctr"]
    assert vw["final_window"]["expected_ctr"] >= 2.0 * refs["uniform_expected"]["expected_ctr"]
    assert vw["lift_over_best_fixed"] > 0.3
    # realised clicks agree with the exact expectation
    assert vw["ctr"] == pytest.approx(vw["expected_ctr"], abs=0.01)
    # every segment gains over the best fixed variant (least for the largest segment, whose
    # favourite the best fixed variant mostly is) and gets >= 80% of its oracle
    segs = vw["segments"].values()
    assert all(s["lift_over_best_fixed"] > 0.0 and s["share_of_oracle"] > 0.8 for s in segs)
    assert sorted(s["lift_over_best_fixed"] for s in segs)[1] > 0.2


def test_linucb_personalises_but_learns_slower_than_vw(segments_20k):
    """Disjoint LinUCB keeps one model per variant over the context, so it does personalise (beats
    the best fixed variant) but shares nothing across variants: it needs more data than VW, which
    learns context x image-feature interactions shared by every variant."""
    m = segments_20k
    vw, lin = m["policies"]["vw:squarecb"], m["policies"]["linucb"]
    assert lin["final_window"]["lift_over_best_fixed"] > 0.1
    assert lin["share_of_oracle"] < vw["share_of_oracle"]
    assert lin["cumulative_regret"] > vw["cumulative_regret"]


def test_ts_lands_on_best_fixed_and_uniform_on_its_expectation(segments_20k):
    """Per-title TS ignores the viewer: at best it finds the one best variant per title."""
    m = segments_20k
    refs = m["references"]["click"]
    ts, vw, uni = (m["policies"][k] for k in ("ts-per-title", "vw:squarecb", "uniform"))
    best_fixed = refs["best_fixed"]["expected_ctr"]
    assert ts["final_window"]["expected_ctr"] == pytest.approx(best_fixed, rel=0.12)
    assert ts["final_window"]["expected_ctr"] <= 1.05 * best_fixed
    assert vw["final_window"]["expected_ctr"] > 1.2 * ts["final_window"]["expected_ctr"]
    assert uni["expected_ctr"] == pytest.approx(refs["uniform_expected"]["expected_ctr"], rel=0.03)
    # exposure audit: TS concentrates exposure on one variant per title, uniform spreads it
    assert ts["exposure"]["gini"] > 0.4 > uni["exposure"]["gini"] + 0.3
    assert uni["exposure"]["starved"] == []


def test_drift_is_noticed_and_recovered():
    m = run_simulation("drift", ["vw:squarecb"], impressions=40_000, seed=0, log_policy=None)
    rec = m["policies"]["vw:squarecb"]["recovery"]["drift"]
    assert rec["at"] == 20_000
    assert rec["just_after"] < rec["before"] - 0.2  # the old tastes no longer pay
    assert rec["end"] > rec["just_after"] + 0.2  # and it re-learns


def test_cold_start_titles_are_learned():
    m = run_simulation("cold-start", ["vw:squarecb"], impressions=40_000, seed=0, log_policy=None)
    vw = m["policies"]["vw:squarecb"]
    rec = vw["recovery"]["cold_start"]
    assert rec["new_titles_end"] > rec["new_titles_just_after"] + 0.03
    assert rec["new_titles_end"] > 0.8
    # the late variants got shown once they arrived
    env = Environment(load_scenario("cold-start"), seed=0)
    late = [v.id for t in env.titleset.titles for v in t.variants if v.arrive > 0]
    shares = {v: s for t in vw["exposure"]["titles"].values() for v, s in t["variants"].items()}
    assert late and all(shares[v]["impressions"] > 0 for v in late)


def test_clickbait_quality_play_trades_clicks_for_plays():
    m = run_simulation("clickbait", ["vw:squarecb"], impressions=30_000, seed=0, log_policy=None)
    t = m["tradeoff"]
    by = t["by_reward"]
    assert t["clicks_given_up"] > 0.05
    assert t["quality_plays_gained"] > 0.005
    assert by["click"]["clickbait_share"] > 3 * by["quality_play"]["clickbait_share"]
    assert "vw:squarecb [reward=quality_play]" in m["policies"]
    # the exposure audit shows who absorbs the clickbait when clicks are the reward
    segs = m["policies"]["vw:squarecb"]["exposure"]["segment_summary"]
    assert all(sum(s["archetypes"].values()) == pytest.approx(1.0, abs=1e-4) for s in segs.values())
    assert max(s["clickbait_share"] for s in segs.values()) > 0.3
    assert (
        max(
            s["clickbait_share"]
            for s in m["policies"]["vw:squarecb [reward=quality_play]"]["exposure"]["segment_summary"].values()
        )
        < 0.15
    )


def test_same_seed_same_metrics_and_outputs(tmp_path):
    kw = dict(impressions=1_500, log_policy="uniform")
    pols = ["vw:squarecb", "linucb", "ts-per-title"]
    a = run_simulation("delayed", pols, seed=3, out_dir=tmp_path / "a", **kw)
    b = run_simulation("delayed", pols, seed=3, out_dir=tmp_path / "b", jobs=2, **kw)  # policies in 2 processes
    c = run_simulation("delayed", pols[:1], seed=4, **kw)
    assert a == b
    for name in ("metrics.json", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    rows = [
        sqlite3.connect(tmp_path / run / "events.sqlite")
        .execute("SELECT event_id, time, context, pmf, chosen_index, probability, reward FROM events ORDER BY seq")
        .fetchall()
        for run in ("a", "b")
    ]
    assert len(rows[0]) == 1_500 and rows[0] == rows[1]
    assert a["policies"]["vw:squarecb"] != c["policies"]["vw:squarecb"]
    assert set(a["policies"]) == set(pols + ["uniform"])  # the logging policy runs too


def test_delayed_rewards_are_flushed_and_logged(tmp_path):
    out = tmp_path / "out"
    m = run_simulation("delayed", ["vw:squarecb"], impressions=2_000, seed=0, log_policy="vw:squarecb", out_dir=out)
    vw = m["policies"]["vw:squarecb"]
    assert vw["logged"] is True and m["events"] == "events.sqlite"
    from bandit import EventLog

    log = EventLog(out / "events.sqlite")
    try:
        events = list(log.iter_events())
    finally:
        log.close()
    assert len(events) == 2_000
    assert all(e.reward is not None for e in events)  # nothing left pending at the end
    rewarded = sum(e.reward == 1.0 for e in events)
    assert rewarded + vw["late_rewards"] == vw["clicks"]
    # rewards arrive after the decision, on the simulated clock
    late = [e for e in events if e.reward == 1.0]
    assert late and all(e.reward_time > e.time for e in late)
    # each logged reward, recomputed from the inputs (not from the Decision that was logged): the
    # same seed rebuilds the stream; impression t is at t / impressions_per_s; a reward of 1 means
    # the simulated viewer clicked the logged variant (u_click < its click probability)
    sc = load_scenario("delayed")
    stream = Environment(sc, seed=0).generate(2_000)
    events.sort(key=lambda e: e.time)
    t = np.rint(np.array([e.time for e in events]) * sc.impressions_per_s).astype(int)
    assert (t == np.arange(2_000)).all()
    chosen = np.array([e.chosen_index for e in events])
    clicked = stream.u_click < stream.click_p[t, chosen]
    got = np.array([e.reward == 1.0 for e in events])
    assert not (got & ~clicked).any()  # never a reward without a click
    assert (clicked & ~got).sum() == vw["late_rewards"]  # clicks unrewarded only when late
    assert clicked.sum() == vw["clicks"]
    assert all(0 < e.probability <= 1 and abs(sum(e.pmf) - 1) < 1e-9 for e in events)


def test_environment_probabilities_are_exact_and_consistent():
    env = Environment(load_scenario("cold-start"), seed=1)
    s = env.generate(20_000)
    assert (s.click_p >= 0).all() and (s.click_p < 1).all()
    assert (s.play_p <= s.click_p).all()
    # unavailable variants have probability 0; before arrival new titles are never drawn
    cols = np.arange(s.click_p.shape[1])
    assert (s.click_p[cols[None, :] >= s.k[:, None]] == 0).all()
    late_titles = [i for i, t in enumerate(env.titleset.titles) if t.arrive > 0]
    before = np.arange(s.n) < int(np.ceil(0.4 * s.n))
    assert not np.isin(s.title[before], late_titles).any()
    assert np.isin(s.title[~before], late_titles).any()
    # simulated outcomes follow the probabilities
    imps = list(env.iter_stream(s))
    clicks = np.array([env.outcome(imp, 0)[0] for imp in imps])
    assert clicks.mean() == pytest.approx(s.click_p[:, 0].mean(), abs=0.01)
    imp = imps[0]
    assert len(imp.actions) == len(imp.click_p) == imp.k
    assert set(imp.context) == {"user", "title"} and imp.user_id.startswith("u")


def test_scenario_files_toml_and_json(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'base = "drift"\ntitles = 5\nusers = 500\ndrift_at = 0.3\n'
        '[[segments]]\nname = "a"\nweight = 1\ntastes = {faces = 1.5}\n'
        '[[segments]]\nname = "b"\nweight = 2\ntastes = {dark = 1.0, text = -0.5}\ndevices = {mobile = 5}\n'
    )
    sc = load_scenario(str(toml))
    assert (sc.name, sc.titles, sc.drift_at, [s.name for s in sc.segments]) == ("mine", 5, 0.3, ["a", "b"])
    js = tmp_path / "mine.json"
    js.write_text(json.dumps({"base": "clickbait", "variants_per_title": 4}))
    assert load_scenario(str(js)).clickbait_per_title == 1
    assert load_scenario("segments", users=100).users == 100
    for bad, msg in [
        ({"titels": 3}, "unknown key 'titels'"),
        ({"titles": "many"}, "'titles' must be a number"),
        ({"drift_at": 1.5}, "drift_at"),
        ({"base": "nope"}, "unknown base"),
        ({"segments": [{"name": "x", "tastes": {"shiny": 1}}]}, "unknown taste attribute"),
    ]:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(SimulationError, match=msg):
            load_scenario(str(path))
    with pytest.raises(SimulationError, match="unknown scenario"):
        load_scenario("no-such-preset")


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from artbandit.cli import main; main()", "simulate", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env=env,
    )


def test_same_seed_identical_across_processes(tmp_path):
    """No dependence on Python's per-process hash seed (set order, dict hashing)."""
    import os

    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}"
        r = _cli(
            "-s",
            "cold-start",
            "-n",
            "800",
            "-p",
            "vw",
            "-p",
            "linucb",
            "-q",
            "-o",
            str(out),
            cwd=tmp_path,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        assert r.returncode == 0, r.stderr
        outs.append(out)
    for name in ("metrics.json", "report.html"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()


def test_cli_bad_inputs_give_one_line_errors(tmp_path):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("titles = [unclosed\n")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'red'\n")
    cases = [
        (["--scenario", str(bad_toml)], "not valid TOML"),
        (["--scenario", str(unknown)], "unknown key 'colour'"),
        (["--scenario", str(tmp_path / "missing.toml")], "cannot read scenario file"),
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--policy", "vw:magic"], "unknown policy 'vw:magic'"),
        (["--log-policy", "greedy"], "unknown policy 'greedy'"),
        (["--variants", str(tmp_path / "nowhere")], "no such variants folder"),
        (["--variants", str(tmp_path)], "no variants.json"),
    ]
    for args, msg in cases:
        out = tmp_path / "out"
        r = _cli(*args, "-n", "100", "-o", str(out), cwd=tmp_path)
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and msg in lines[0], (args, r.stderr)
        assert "Traceback" not in r.stderr
        assert not out.exists()  # nothing half-written


def test_cli_writes_metrics_report_and_log(tmp_path):
    from PIL import Image

    from imaging.features import image_features

    # two real variants folders (tiny images, features from imaging.features)
    dirs = []
    for ti, hues in enumerate([((200, 60, 30), (20, 20, 30), (240, 220, 200)), ((30, 90, 200), (250, 250, 250))]):
        d = tmp_path / f"title{ti}"
        d.mkdir()
        variants = []
        for j, rgb in enumerate(hues):
            img = np.zeros((96, 64, 3), np.uint8) + np.array(rgb, np.uint8)
            img[30:60, 10:50] = 255 - img[30:60, 10:50]
            Image.fromarray(img).save(d / f"v{j}.jpg")
            variants.append({"id": f"v{j}", "file": f"v{j}.jpg", "features": image_features(img, faces=[])})
        (d / "variants.json").write_text(json.dumps({"schema": "artbandit.variants/1", "variants": variants}))
        dirs += ["--variants", str(d)]
    out = tmp_path / "sim"
    r = _cli(
        "-n", "1500", "-p", "uniform", "-p", "vw", "--json", "--quiet", "-j", "2", *dirs, "-o", str(out), cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # --quiet
    metrics = json.loads(r.stdout)
    assert metrics == json.loads((out / "metrics.json").read_text())
    assert metrics["catalog"]["real_variants"] is True and metrics["catalog"]["titles"] == 2
    assert set(metrics["policies"]) == {"uniform", "vw"}
    assert metrics["policies"]["uniform"]["logged"] is True
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and "data:image/jpeg;base64," in html
    assert "Exposure audit" in html and 'src="http' not in html
    with sqlite3.connect(out / "events.sqlite") as con:
        tables = [t for (t,) in con.execute("select name from sqlite_master where type='table'")]
        assert any(con.execute(f"select count(*) from {t}").fetchone()[0] == 1500 for t in tables)


def test_output_folder_rules_and_progress(tmp_path):
    """safeio.OutputFolder rules for -o, and the progress protocol (done rises to total, no click)."""
    from safeio.errors import OutputFolderError

    calls = []
    out = tmp_path / "sim"
    kw = dict(impressions=1_000, seed=0, log_policy=None)
    run_simulation("segments", ["uniform", "linucb"], out_dir=out, progress=lambda *c: calls.append(c), **kw)
    assert {u for _, _, u in calls} == {"impressions"} and {t for _, t, _ in calls} == {2_000}
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls) and calls[-1][0] == 2_000
    marker = json.loads((out / ".artbandit-output.json").read_text())
    assert marker["kind"] == "simulate"
    first = (out / "metrics.json").read_bytes()
    run_simulation("segments", ["uniform", "linucb"], out_dir=out, **kw)  # same inputs: regenerated
    assert (out / "metrics.json").read_bytes() == first
    with pytest.raises(OutputFolderError, match="--force"):  # other options: only with force
        run_simulation("segments", ["uniform"], out_dir=out, **kw)
    assert (out / "metrics.json").read_bytes() == first
    (out / "notes.txt").write_text("mine")  # --force replaces artbandit's files only (issue 27)
    run_simulation("segments", ["uniform"], out_dir=out, force=True, **kw)
    assert set(json.loads((out / "metrics.json").read_text())["policies"]) == {"uniform"}
    assert (out / "notes.txt").read_text() == "mine"
    # a stranger's folder: never, even with force; an output holding the scenario file: never
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    scenario = foreign / "s.json"
    scenario.write_text(json.dumps({"titles": 3}))
    for force in (False, True):
        with pytest.raises(OutputFolderError, match="not written by artbandit|contains an input"):
            run_simulation("segments", ["uniform"], out_dir=foreign, force=force, **kw)
    with pytest.raises(OutputFolderError, match="contains an input"):
        run_simulation(str(scenario), ["uniform"], out_dir=tmp_path, force=True, **kw)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt", "s.json"]


def test_libraries_draw_no_progress_bar():
    """simulations reports progress through safeio.progress; only the CLI imports click."""
    code = (
        "import sys, simulations.online.runner, simulations.reports.simulation, simulations.ope.replay, artbandit.demo; "
        "print('click' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_variant_at_the_floor_is_not_starved_by_sampling_noise_but_one_below_it_is():
    """The audit flags a shortfall beyond two binomial standard deviations, not a 0.99% draw of a
    variant the policy gives exactly the 1% floor."""
    import numpy as np

    from simulations.online.metrics import Trace, exposure_audit
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    env = Environment(load_scenario("segments", titles=1), seed=0)
    stream = env.generate(40_000)
    k = len(env.titleset.titles[0].variants)
    n = len(stream.k)
    for count, starved in [(int(0.0099 * n), False), (int(0.0085 * n), True)]:
        chosen = np.zeros(n, np.int64)
        chosen[:count] = 1  # variant 1 drawn `count` times, variant 0 otherwise
        trace = Trace(chosen=chosen, explored=np.zeros(n, bool), click=np.zeros(n, bool), play=np.zeros(n, bool))
        audit = exposure_audit(env, stream, trace, floor=0.01)
        flagged = {s["variant"] for s in audit["starved"]}
        assert (env.titleset.titles[0].variants[1].id in flagged) == starved, (count, flagged)
        assert all(v.id in flagged for v in env.titleset.titles[0].variants[2:k])  # never shown: starved


def test_policies_in_processes_run_on_the_engine_and_report_progress_per_run(tmp_path):
    """jobs > 1: each policy is a task on safeio.engine's local engine; progress moves by one run's
    impressions when a run finishes, and reaches the total."""
    calls = []
    kw = dict(impressions=2_500, seed=2, log_policy=None)
    m = run_simulation(
        "segments", ["uniform", "linucb", "ts-per-title"], jobs=2, progress=lambda *c: calls.append(c), **kw
    )
    assert [d for d, _, _ in calls] == [2_500, 5_000, 7_500] and {t for _, t, _ in calls} == {7_500}
    assert m == run_simulation("segments", ["uniform", "linucb", "ts-per-title"], **kw)


def test_no_dead_quiet_parameter():
    """run_simulation and run_demo report progress through `progress` only (issue 29)."""
    import inspect

    from artbandit.demo import run_demo

    assert "quiet" not in inspect.signature(run_simulation).parameters
    assert "quiet" not in inspect.signature(run_demo).parameters
