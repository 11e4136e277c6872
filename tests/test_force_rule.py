"""One --force rule for every command that replaces an output folder (issue 27): what artbandit wrote
is replaced, the files the user added stay. extract, variants, simulate and demo are checked in their
own test files; replay and evaluate here, on one small simulated log."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulations.ope import run_replay
from simulations.runner import run_simulation


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


def test_evaluate_force_keeps_the_users_files(log: Path, tmp_path: Path) -> None:
    out = tmp_path / "evaluation"
    args = [sys.executable, "-m", "artbandit", "evaluate", str(log), "-o", str(out), "-q", "--workers", "1",
            "--policy", "uniform", "--buckets", "1"]
    first = subprocess.run(args, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    (out / "notes.txt").write_text("mine")
    again = subprocess.run([*args, "--seed", "1", "--force"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert (out / "notes.txt").read_text() == "mine"
