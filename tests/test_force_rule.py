"""One --force rule for every command that replaces an output folder (issue 27): what artbandit wrote
is replaced, the files the user added stay. extract, variants, simulate and demo are checked in their
own test files; replay and evaluate here, on one small simulated log."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulations.ope import run_replay
from simulations.online.runner import run_simulation


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
