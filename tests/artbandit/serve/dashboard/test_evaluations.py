"""The evaluation jobs' files (artbandit/serve/dashboard/evaluations.py): what every process serving a
state folder sees, what a dead process leaves, and what is not ours."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import orjson
import pytest

from artbandit.serve.dashboard.evaluations import EvaluationError, Evaluations


class _Svc:
    seed = 0


def _job(eid: str, owner: str, status: str = "pending", created: float = 1.0) -> bytes:
    return orjson.dumps({"id": eid, "name": "n", "status": status, "progress": 0.5, "created": created, "owner": owner})


def test_jobs_are_files_a_dead_owner_reads_as_failed_and_foreign_files_are_left_alone(tmp_path):
    folder = tmp_path / "evaluations"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    (folder / "00000000000000aa.json").write_bytes(_job("00000000000000aa", f"{host}:{int(dead.stdout)}"))
    (folder / "00000000000000bb.json").write_bytes(_job("00000000000000bb", f"{host}:{os.getpid()}", created=2.0))
    (folder / "00000000000000cc.json").write_bytes(_job("00000000000000cc", "elsewhere:1", created=3.0))
    (folder / "notes.json").write_bytes(b'{"id": "notes"}')  # not a job name: not listed, never deleted
    (folder / "00000000000000dd.json").write_bytes(b"{half-written")  # unreadable: not listed
    evals = Evaluations(_Svc(), tmp_path)
    jobs = evals.jobs
    assert list(jobs) == ["00000000000000aa", "00000000000000bb", "00000000000000cc"]  # oldest first
    assert jobs["00000000000000aa"]["status"] == "failed" and "stopped" in jobs["00000000000000aa"]["error"]
    assert jobs["00000000000000bb"]["status"] == "pending"  # this process: alive
    assert jobs["00000000000000cc"]["status"] == "pending"  # another machine's: cannot tell
    with pytest.raises(EvaluationError) as running:
        evals.create({})  # no event log in this folder: refused before anything
    assert "events.sqlite" in str(running.value)
    for bad in ("notes", "../serve-state", "00000000000000AA"):
        with pytest.raises(EvaluationError) as missing:
            evals.delete(bad)
        assert missing.value.status == 404
    evals.delete("00000000000000aa")
    assert not (folder / "00000000000000aa.json").exists() and (folder / "notes.json").exists()
    assert Evaluations(_Svc(), tmp_path).get("00000000000000bb")["progress"] == 0.5  # another process sees it
    evals.applied = {"evaluation": "00000000000000bb", "policy": "vw:select"}
    assert Evaluations(_Svc(), tmp_path).applied == {"evaluation": "00000000000000bb", "policy": "vw:select"}
    evals.applied = None
    assert Evaluations(_Svc(), tmp_path).applied is None
