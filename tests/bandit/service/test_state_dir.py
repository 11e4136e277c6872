"""Tests of bandit.service.state_dir: temporaries a killed run left are removed at the next start."""

from __future__ import annotations

import stat

from bandit.service.decision_service import DecisionService
from tests.bandit_helpers import make_actions


def test_temporaries_left_by_a_killed_run_are_removed_at_start(tmp_path):
    state = tmp_path / "s"
    with DecisionService(state, id_seed=1) as svc:
        svc.rank({"u": {"x": 1}}, make_actions()[:3])
    ckpts = state / "checkpoints"
    left = [
        ckpts / ".current.json.k2j_x8q1.tmp",
        state / ".config.json.abcd1234.tmp",
        state / ".serve-state.json.zz99zz99.tmp",
    ]
    for p in left:
        p.write_text("{half")
    (ckpts / ".ckpt-000000000004-00001765000000000000000.abtmp-99999999-0a1b2c3d").mkdir()
    keep = [state / "notes.current.json.tmp", ckpts / "current.json.bak", state / ".config.json.tmp"]
    for p in keep:  # not artbandit's pattern: never touched
        p.write_text("mine")
    with DecisionService(state, id_seed=1) as svc:
        assert svc.status()["eventsPending"] == 1
    assert not any(p.exists() for p in left)
    assert not [e for e in ckpts.iterdir() if e.name.startswith(".ckpt-")]
    assert all(p.read_text() == "mine" for p in keep)
    assert stat.S_IMODE((state / "lock").stat().st_mode) == 0o600
