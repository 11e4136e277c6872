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
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(12)
        ]
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


@pytest.mark.parametrize("bad", [{"a": 1}, ["u"], b"u", 1.5, True, None.__class__])
def test_a_user_id_that_is_not_text_is_a_one_line_error_and_changes_nothing(bad):
    p = make_policy("uniform", secret="s" * 16, id_seed=0)
    actions = [{"id": "a"}, {"id": "b"}]
    with pytest.raises(BanditError, match=r"^user_id must be a string \(or an integer\), got \w+; pass"):
        p.rank({"u": {"x": 1.0}}, actions, user_id=bad, now=0.0)
    # a rejected call spent no draw and no event id: the next decision is the one a fresh policy makes
    fresh = make_policy("uniform", secret="s" * 16, id_seed=0)
    a = p.rank({"u": {"x": 1.0}}, actions, user_id="u-1", now=0.0)
    b = fresh.rank({"u": {"x": 1.0}}, actions, user_id="u-1", now=0.0)
    assert (a.event_id, a.index) == (b.event_id, b.index)
    assert p.rank({"u": {"x": 1.0}}, actions, user_id=123, now=0.0).event_id  # integers stay accepted


def test_an_unusable_key_home_is_a_one_line_error_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("ARTBANDIT_SECRET", raising=False)
    monkeypatch.delenv("ARTBANDIT_SECRET_FILE", raising=False)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker / "cfg"))  # below a file: cannot be created
    p = make_policy("uniform")
    with pytest.raises(
        BanditError,
        match=r"secret\.key: cannot read or create the user-id hashing key "
        r"\(Not a directory\); set ARTBANDIT_SECRET_FILE .*ARTBANDIT_SECRET",
    ):
        p.rank({"u": {"x": 1.0}}, [{"id": "a"}], user_id="u-1", now=0.0)
    with pytest.raises(BanditError, match="secret must be a string or bytes, got int"):
        make_policy("uniform", secret=123).rank({"u": {"x": 1.0}}, [{"id": "a"}], user_id="u", now=0.0)
    # the CLI: one line, exit 1, no traceback, no "[Errno"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTBANDIT_SECRET")}
    env["XDG_CONFIG_HOME"] = str(blocker / "cfg")
    model = tmp_path / "model"
    with make_policy("vw:squarecb") as q:
        q.save(model)
    (tmp_path / "ctx.json").write_text('{"u": {"x": 1}}')
    (tmp_path / "actions.json").write_text('[{"id": "a"}, {"id": "b"}]')
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "artbandit",
            "rank",
            str(model),
            "--context",
            str(tmp_path / "ctx.json"),
            "--actions",
            str(tmp_path / "actions.json"),
            "--user-id",
            "u-1",
            "--log",
            str(tmp_path / "e.sqlite"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot read or create the user-id hashing key" in proc.stderr
    assert "Errno" not in proc.stderr and "Traceback" not in proc.stderr


def test_user_ids_hash_to_the_keyed_sha256_of_their_text():
    """The hasher keeps the keyed state and copies it per new id (issue 31's speed work): the
    digests are HMAC-SHA256's, truncated to 128 bits, for text and integer ids alike."""
    import hashlib
    import hmac

    key = "a-secret-of-at-least-16-bytes"
    hasher = UserHasher(key)
    for user_id in ("user-1", "café", "", 12345, "user-1"):
        want = hmac.digest(key.encode(), str(user_id).encode("utf-8"), hashlib.sha256).hex()[:32]
        assert hasher(user_id) == want
