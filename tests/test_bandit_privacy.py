"""The user-id hashing key and the event log's permissions."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from bandit import BanditError, EventLog, make_policy
from bandit.privacy import UserHasher


def test_concurrent_first_use_of_the_key_file_all_agree_and_none_fails(tmp_path):
    key_file = tmp_path / "cfg" / "secret.key"
    env = {k: v for k, v in os.environ.items() if k != "ARTBANDIT_SECRET"}
    env["ARTBANDIT_SECRET_FILE"] = str(key_file)
    code = "from bandit.privacy import UserHasher; print(UserHasher()('viewer-1'))"
    for _ in range(3):  # three rounds of a dozen processes racing for a key that does not exist yet
        if key_file.exists():
            key_file.unlink()
        procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(12)]
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * 12, [err for _, err in results]
        hashes = {out.strip() for out, _ in results}
        assert len(hashes) == 1 and len(hashes.pop()) == 32
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert [p.name for p in key_file.parent.iterdir()] == ["secret.key"]  # no temporaries left


def test_a_key_file_other_users_can_read_is_refused(tmp_path, monkeypatch):
    key_file = tmp_path / "secret.key"
    key_file.write_text("k" * 40)
    monkeypatch.delenv("ARTBANDIT_SECRET", raising=False)
    monkeypatch.setenv("ARTBANDIT_SECRET_FILE", str(key_file))
    for mode in (0o644, 0o640, 0o602):
        key_file.chmod(mode)
        with pytest.raises(BanditError, match="accessible to other users.*chmod 600"):
            UserHasher()("someone")
    key_file.chmod(0o600)
    assert len(UserHasher()("someone")) == 32


def test_the_event_log_is_created_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "e.sqlite"
        with make_policy("uniform", log=path, secret="s" * 20) as p:
            p.rank({"u": {"x": 1.0}}, [{"id": "a"}], user_id="v", now=0.0)
            p.flush()
            files = [f for f in tmp_path.iterdir() if f.name.startswith("e.sqlite")]
            assert {f.name for f in files} >= {"e.sqlite", "e.sqlite-wal"}
            for f in files:
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        out = tmp_path / "out.dsjson"
        EventLog(path, readonly=True).export(out)
        assert stat.S_IMODE(out.stat().st_mode) == 0o600  # an export holds the same contexts
    finally:
        os.umask(old)
