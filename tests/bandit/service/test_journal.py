"""Tests of bandit.service.journal: owner-only files, and a failed commit retried without a gap."""

from __future__ import annotations

import stat

import pytest

from bandit.service.decision_service import DecisionService
from tests.bandit_helpers import make_actions


def test_a_failed_commit_is_retried_and_the_journal_skips_nothing(tmp_path, monkeypatch):
    svc = DecisionService(tmp_path / "s")
    actions = make_actions()[:3]
    first = svc.rank({"u": {"x": 1}}, actions, now=0.0).event_id
    real_write = svc.journal.write

    def disk_full(batch):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(svc.journal, "write", disk_full)
    with pytest.raises(OSError):
        svc.reward(first, 1.0, now=1.0)
    monkeypatch.setattr(svc.journal, "write", real_write)
    second = svc.rank({"u": {"x": 2}}, actions, now=2.0).event_id
    kinds = [(kind, event) for _, kind, event, _, _ in svc.journal.records() if kind != "set"]
    assert kinds == [("rank", first), ("reward", first), ("close", first), ("rank", second)]
    svc.close()


def test_journal_files_are_owner_only(tmp_path):
    with DecisionService(tmp_path / "s", id_seed=1) as svc:
        r = svc.rank({"u": {"x": 1}}, make_actions()[:3])
        svc.reward(r.event_id, 1.0)
        names = [p for p in (tmp_path / "s").iterdir() if p.name.startswith("journal.sqlite")]
        assert {p.name for p in names} >= {"journal.sqlite", "journal.sqlite-wal"}
        for p in names:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p.name, oct(p.stat().st_mode))
