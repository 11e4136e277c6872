"""`artbandit evaluate` end to end on simulator logs: outputs, escaping, refusals, --apply, and truth
checks against candidates run online on the same seeded audience.

`evaluate --apply` and the model-folder rule every model save follows: only what the decision says
to ship is written (unless --apply-anyway); a user's file in an earlier model folder, or a stranger's
folder, is never deleted (also by `train -o`); the report and the model never share a folder. Plus
the small-log cases: too little data is one line, never nan; a reference policy holding the highest
estimate is neither the winner nor ranked.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulations.ope.policies import vw_options

N = 3000


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    """A uniform-logged simulator log (full support, so every candidate can be estimated)."""
    from simulations.online.runner import run_simulation

    out = tmp_path_factory.mktemp("sim") / "run"
    run_simulation("segments", ["uniform"], impressions=N, seed=3, log_policy="uniform", out_dir=out, report=False)
    return out / "events.sqlite"


CANDIDATES = ("vw:squarecb", "vw:squarecb --gamma_scale 50 -l 0.3")


@pytest.fixture(scope="module")
def evaluation(sim: Path, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ev") / "we<b>ird & name"  # a hostile folder name for the log
    root.mkdir()
    log = root / "events.sqlite"
    log.write_bytes(sim.read_bytes())
    args = ["evaluate", str(log), "-o", str(root / "out"), "-q", "--workers", "1"]
    for c in CANDIDATES:
        args += ["--policy", c]
    r = _cli(*args)
    assert r.returncode == 0, r.stderr
    result = json.loads((root / "out" / "evaluation.json").read_text())
    result["_dir"] = str(root / "out")
    result["_stdout"] = r.stdout
    return result


def test_the_spec_parser_maps_vw_arguments_to_personalizer_options() -> None:
    o = vw_options("vw:squarecb --gamma_scale 50 -q ccA -l 0.25 --power_t 0 --cb_type mtr --importance_weighted")
    assert o == {
        "exploration": "squarecb",
        "gamma_scale": 50.0,
        "learning_rate": 0.25,
        "interactions": ["ccA"],
        "vw_args": "--power_t 0 --cb_type mtr",
        "importance_weighted": True,
    }
    assert vw_options("vw:epsilon --epsilon=0.2 -b 20") == {"exploration": "epsilon", "epsilon": 0.2, "bits": 20}


HOSTILE = [
    ("vw:squarecb --daemon --port 26546", "--daemon"),
    ("vw:squarecb -f notes.txt", "-f"),
    ("vw:squarecb --readable_model readable.txt", "--readable_model"),
    ("vw:squarecb --cache_file cache.bin", "--cache_file"),
    ("vw:squarecb -d data.txt", "-d"),
    ("vw:squarecb -i notes.txt", "-i"),
    ("vw:epsilon --invert_hash inv.txt", "--invert_hash"),
    ("vw:squarecb --gamma_scale 50 --port 26546", "--port"),
    ("vw:squarecb -p preds.txt", "-p"),
    ("vw:squarecb --bag 100000", "--bag must be between 1 and 32"),
]


@pytest.mark.parametrize("spec, named", HOSTILE)
def test_vw_arguments_off_the_allowlist_are_refused_naming_the_flag(spec: str, named: str) -> None:
    """The one argument policy (bandit.policies.specs.vw_arguments, the service's allowlist) for every command
    that builds a VW learner: evaluate's candidates, make_policy (replay, simulate, scenario files)."""
    from bandit import BanditError, make_policy
    from simulations.errors import SimulationError

    with pytest.raises(SimulationError) as err:
        vw_options(spec)
    assert f"'{named}'" in str(err.value) or named in str(err.value)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"policy {spec!r}:")
    with pytest.raises(BanditError) as err2:
        make_policy(spec)
    assert str(err2.value) == str(err.value)


def test_make_policy_takes_allowed_vw_arguments() -> None:
    """replay, simulate and scenario files accept the same arguments evaluate does."""
    from bandit import Personalizer, VWPolicy, make_policy

    p = make_policy("vw:squarecb --gamma_scale 50 -q ccA -l 0.25")
    assert type(p) is VWPolicy and p.options["gamma_scale"] == 50.0 and p.options["interactions"] == ["ccA"]
    assert p.options["learning_rate"] == 0.25
    s = make_policy("vw --gamma_scale 30")
    assert type(s) is Personalizer and s.gamma_scale == 30.0


def test_no_command_lets_a_hostile_vw_argument_through(sim: Path, tmp_path: Path) -> None:
    """evaluate, replay and simulate refuse `--daemon`, `-f FILE`, `--readable_model`, `--cache_file`
    before anything runs: one line naming the flag, non-zero exit, the user's file untouched, no file
    written, no output folder."""
    (tmp_path / "notes.txt").write_text("keep")
    runs = {
        "evaluate": ["evaluate", str(sim), "-o", "out", "-q", "--workers", "1", "--policy"],
        "replay": ["replay", str(sim), "-o", "out", "-q", "--policy"],
        "simulate": ["simulate", "-n", "50", "-o", "out", "-q", "--policy"],
    }
    for command, args in runs.items():
        for spec, flag in [
            ("vw:squarecb --daemon --port 26546", "--daemon"),
            ("vw:squarecb -f notes.txt", "-f"),
            ("vw:squarecb --readable_model readable.txt", "--readable_model"),
            ("vw:squarecb --cache_file cache.bin", "--cache_file"),
        ]:
            r = subprocess.run(
                [sys.executable, "-m", "artbandit", *args, spec],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                timeout=300,
            )  # a VW daemon would hold the pipe open
            assert r.returncode != 0, (command, spec)
            err = r.stderr.strip()
            assert len(err.splitlines()) == 1 and f"'{flag}' is not an allowed learning option" in err, (command, err)
            assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"], (command, spec)
            assert (tmp_path / "notes.txt").read_text() == "keep"


def test_vw_names_the_default_policy_and_takes_only_what_it_allows() -> None:
    """`vw` is the default, vw:select, as in make_policy; arguments it fixes itself are one-line errors."""
    from bandit import Personalizer, VWPolicy
    from simulations.errors import SimulationError
    from simulations.ope.policies import build_policy

    assert type(build_policy("vw")) is Personalizer
    assert build_policy("vw --gamma_scale 30").gamma_scale == 30.0
    assert type(build_policy("vw:squarecb -q ccA")) is VWPolicy
    for spec, named in [("vw -q ccA", "-q"), ("vw:select -l 0.5 --power_t 0", "-l, --power_t")]:
        with pytest.raises(
            SimulationError, match=f"only --gamma_scale, --ridge and --no_ridge may be given \\(got {named}\\)"
        ) as err:
            build_policy(spec)
        assert "\n" not in str(err.value)


def test_every_candidate_has_estimates_with_intervals_by_bucket_and_a_decision(evaluation) -> None:
    names = [p["name"] for p in evaluation["policies"]]
    assert names[:4] == ["logged", "baseline", "uniform", "best-fixed"] and names[4:] == list(CANDIDATES)
    for p in evaluation["policies"]:
        assert "error" not in p, p
        for est in ("snips", "dr"):
            e = p["estimates"][est]
            assert e["low"] <= e["value"] <= e["high"]
            assert len(p["buckets"][est]) == 10 and p["buckets"][est][-1]["end"] == N
    logged = evaluation["policies"][0]["estimates"]
    assert logged["dr"]["value"] == pytest.approx(evaluation["log"]["logged_reward_mean"])
    d = evaluation["decision"]
    assert d["winner"] in CANDIDATES and d["recommendation"]
    # uniform logs: learning candidates are clearly better than the uniform logger
    assert d["clearly_better"] and d["low"] > d["logged_high"]
    assert "Ship" in evaluation["_stdout"]


def test_the_report_escapes_user_strings_and_shows_the_winner(evaluation) -> None:
    page = (Path(evaluation["_dir"]) / "report.html").read_text()
    assert "we&lt;b&gt;ird &amp; name" in page and "we<b>ird" not in page
    assert "Recommendation" in page and "Leaderboard" in page and "<img" in page


def test_bad_input_is_one_line_and_a_strangers_folder_is_refused(sim: Path, tmp_path: Path) -> None:
    r = _cli("evaluate", str(tmp_path / "missing.sqlite"), "-o", str(tmp_path / "o"), "-q")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep")
    r = _cli("evaluate", str(sim), "-o", str(stranger), "-q", "--policy", "uniform")
    assert r.returncode != 0 and (stranger / "notes.txt").read_text() == "keep"
    r = _cli("evaluate", str(sim), "-o", str(tmp_path / "o2"), "-q", "--policy", "vw:nosuch")
    assert r.returncode != 0 and "Traceback" not in r.stderr and not (tmp_path / "o2").exists()


def test_apply_writes_the_winner_warm_started_and_it_loads(sim: Path, tmp_path: Path) -> None:
    from bandit import VWPolicy

    r = _cli("evaluate", str(sim), "--apply", str(tmp_path / "model"), "-q", "--policy", "vw:squarecb -l 0.3")
    assert r.returncode == 0, r.stderr
    model = VWPolicy.load(tmp_path / "model")
    assert model.n_learned == N and model.options["learning_rate"] == 0.3


def test_a_dsjson_export_of_the_same_log_gives_the_same_estimates(sim: Path, tmp_path: Path) -> None:
    from bandit import EventLog
    from simulations.ope.evaluate import evaluate

    log = EventLog(sim, readonly=True)
    log.export(tmp_path / "events.dsjson", "dsjson")
    log.close()
    specs = ["uniform", "vw:squarecb"]
    a = evaluate(sim, tmp_path / "a", specs, drift=False)
    b = evaluate(tmp_path / "events.dsjson", tmp_path / "b", specs, drift=False)
    assert b["log"]["format"] == "dsjson" and b["log"]["events"] == N
    for pa, pb in zip(a["policies"], b["policies"]):
        assert pa["name"] == pb["name"]
        for est in ("snips", "dr"):
            assert pb["estimates"][est]["value"] == pytest.approx(pa["estimates"][est]["value"], abs=1e-9)


SPEC = "vw:squarecb -l 0.3"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "artbandit", *args], capture_output=True, text=True, cwd=cwd, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """300 uniform-logged simulator events: too few for the VW winner to be clearly better (the
    decision is to keep the current policy), and best-fixed (hindsight) holds the highest estimate."""
    from simulations.online.runner import run_simulation

    out = tmp_path_factory.mktemp("small") / "run"
    run_simulation("segments", ["uniform"], impressions=300, seed=3, log_policy="uniform", out_dir=out, report=False)
    return out / "events.sqlite"


@pytest.fixture(scope="module")
def kept(small: Path, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("kept")
    r = _cli(
        "evaluate",
        str(small),
        "-o",
        str(root / "out"),
        "--apply",
        str(root / "model"),
        "-q",
        "--workers",
        "1",
        "--policy",
        SPEC,
    )
    assert r.returncode == 0, r.stderr
    return {
        "root": root,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "result": json.loads((root / "out" / "evaluation.json").read_text()),
    }


def test_apply_writes_nothing_when_the_decision_is_to_keep(kept: dict) -> None:
    d = kept["result"]["decision"]
    assert d["winner"] == SPEC and d["action"] == "keep" and not d["clearly_better"]
    assert "Keep the current policy" in kept["stdout"]
    assert "Nothing written to" in kept["stdout"] and "--apply-anyway" in kept["stdout"]
    assert not (kept["root"] / "model").exists()


def test_apply_anyway_writes_the_winner(small: Path, tmp_path: Path) -> None:
    from bandit import VWPolicy

    r = _cli(
        "evaluate",
        str(small),
        "--apply",
        str(tmp_path / "model"),
        "--apply-anyway",
        "-q",
        "--workers",
        "1",
        "--policy",
        SPEC,
    )
    assert r.returncode == 0, r.stderr
    assert "Keep the current policy" in r.stdout
    model = VWPolicy.load(tmp_path / "model")
    assert model.n_learned == 300 and model.options["learning_rate"] == 0.3
    r = _cli("evaluate", str(small), "-o", str(tmp_path / "o"), "--apply-anyway", "-q")
    assert r.returncode != 0 and "--apply-anyway goes with --apply" in r.stderr


def test_a_reference_with_the_highest_estimate_is_neither_the_winner_nor_ranked(kept: dict) -> None:
    result = kept["result"]
    dr = {p["name"]: p["estimates"]["dr"]["value"] for p in result["policies"]}
    assert max(dr, key=dr.get) == "best-fixed"  # the case this test is about
    assert result["decision"]["winner"] == SPEC
    rows = [line.split() for line in kept["stdout"].splitlines()[1:] if line.strip().startswith(("ref", "1", "2", "3"))]
    assert rows[0][:2] == ["ref", "best-fixed"] and rows[1][:2] == ["1", "vw:squarecb"]
    page = (kept["root"] / "out" / "report.html").read_text()
    board = page[page.index("<table>") : page.index("</table>")]
    cells = [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", board)[1:]]
    assert cells[0][:2] == ["ref", "best-fixed (reference)"] and cells[1][:2] == ["1", SPEC]
    assert "1 titles" not in page and "300 events, 12 titles" in page
    # the page's leaderboard is best first by DR
    values = [float(c[2]) for c in cells]
    assert values == sorted(values, reverse=True) and len(values) == len(result["policies"])


def test_apply_never_deletes_a_users_file_in_an_earlier_model_folder(small: Path, tmp_path: Path) -> None:
    r = _cli(
        "evaluate",
        str(small),
        "--apply",
        str(tmp_path / "model"),
        "--apply-anyway",
        "-q",
        "--workers",
        "1",
        "--policy",
        SPEC,
    )
    assert r.returncode == 0, r.stderr
    before = (tmp_path / "model" / "metadata.json").read_bytes()
    (tmp_path / "model" / "notes.txt").write_text("keep")
    r = _cli(
        "evaluate",
        str(small),
        "--apply",
        str(tmp_path / "model"),
        "--apply-anyway",
        "-q",
        "--workers",
        "1",
        "--policy",
        SPEC,
    )
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "notes.txt" in r.stderr and "did not write" in r.stderr
    assert (tmp_path / "model" / "notes.txt").read_text() == "keep"
    assert (tmp_path / "model" / "metadata.json").read_bytes() == before
    # a folder that is no model at all
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("keep")
    r = _cli("evaluate", str(small), "--apply", str(stranger), "--apply-anyway", "-q", "--policy", SPEC)
    assert r.returncode != 0 and "not an artbandit model folder" in r.stderr
    assert sorted(p.name for p in stranger.iterdir()) == ["thesis.tex"]


def test_train_follows_the_same_model_folder_rule(small: Path, tmp_path: Path) -> None:
    """`train -o` used to swap a whole model in over any folder: a stranger's folder was deleted."""
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep")
    r = _cli("train", str(small), "-o", str(stranger), "-q")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "not an artbandit model folder" in r.stderr
    assert sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]
    r = _cli("train", str(small), "-o", str(tmp_path / "model"), "-q")
    assert r.returncode == 0, r.stderr
    r = _cli("train", str(small), "-o", str(tmp_path / "model"), "-q")  # an earlier model folder: replaced
    assert r.returncode == 0, r.stderr
    (tmp_path / "model" / "notes.txt").write_text("keep")
    r = _cli("train", str(small), "-o", str(tmp_path / "model"), "-q")
    assert r.returncode != 0 and "'notes.txt', which artbandit did not write" in r.stderr
    assert (tmp_path / "model" / "notes.txt").read_text() == "keep"


def test_the_report_and_the_model_never_share_a_folder(small: Path, tmp_path: Path) -> None:
    for out, model in [("x", "x"), ("x", "x/model"), ("x/eval", "x")]:
        r = _cli("evaluate", str(small), "-o", out, "--apply", model, "-q", cwd=tmp_path)
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "overlap" in r.stderr, r.stderr
        assert not (tmp_path / "x").exists()


def _csv_log(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    rows = ["action,reward,propensity,x"]
    for i in range(n):
        a = "ab"[int(rng.integers(2))]
        rows.append(f"{a},{int(rng.random() < (0.7 if a == 'a' else 0.2))},0.5,{rng.random():.3f}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("n", [1, 2, 29])
def test_too_little_data_is_one_line_and_never_nan(tmp_path: Path, n: int) -> None:
    log = _csv_log(tmp_path / "log.csv", n)
    r = _cli("evaluate", str(log), "-o", str(tmp_path / "out"), "-q", "--policy", "uniform")
    assert r.returncode == 1, r.stderr
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "too little data" in err and "at least 30" in err
    assert f"{n} event{'s' if n > 1 else ''}" in err
    assert "nan" not in (r.stdout + r.stderr).lower() and not (tmp_path / "out").exists()


def test_thirty_events_evaluate_and_print_no_nan_and_the_single_title_is_singular(tmp_path: Path) -> None:
    log = _csv_log(tmp_path / "log.csv", 30)
    r = _cli("evaluate", str(log), "-o", str(tmp_path / "out"), "-q", "--policy", "uniform")
    assert r.returncode == 0, r.stderr
    assert "nan" not in r.stdout.lower()
    page = (tmp_path / "out" / "report.html").read_text()
    assert "30 events, 1 title," in page


def test_the_prepared_pass_loads_without_pickles(tmp_path: Path) -> None:
    from simulations.ope.readers import ColumnMapping
    from simulations.ope.scoring import LogRef, prepare

    log = _csv_log(tmp_path / "log.csv", 40)
    prepare(LogRef(str(log), "csv", ColumnMapping()), tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    assert list(data["title_names"]) == ["a"] and len(data["reward"]) == 40
    assert json.loads(str(data["best_fixed"])).keys() == {"a", "b"}


def test_a_tiny_propensity_is_no_internal_error(tmp_path: Path) -> None:
    """A row with propensity 1e-300 gives weights no estimate survives (ESS NaN): the report used to
    crash on round(nan) ('internal error ... cannot convert float NaN to integer'). Whether the reader
    refuses such a row or evaluate reports it, it is never an internal error and never prints nan."""
    log = _csv_log(tmp_path / "log.csv", 60)
    rows = log.read_text().splitlines()
    rows[6] = "a,1,1e-300,0.5"
    log.write_text("\n".join(rows) + "\n")
    r = _cli("evaluate", str(log), "-o", str(tmp_path / "out"), "-q", "--policy", "uniform", "--workers", "1")
    assert r.returncode in (0, 1), r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert "nan" not in r.stdout.lower()
