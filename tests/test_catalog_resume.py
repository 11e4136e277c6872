"""A catalogue build killed with SIGKILL midway leaves only complete titles; the next run continues."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.catalog_helpers import ARTBANDIT, FAST, make_catalogue, run_cli

N = 8


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _complete(titles: Path) -> list[str]:
    return sorted(p.name for p in titles.iterdir() if not p.name.startswith(".")) if titles.is_dir() else []


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigkill_midway_then_resume(tmp_path, workers) -> None:
    table = make_catalogue(tmp_path, N)
    out = tmp_path / "out"
    titles = out / "titles"
    args = ["catalog", "build", str(table), "-o", str(out), "-j", workers, *FAST]
    proc = subprocess.Popen([ARTBANDIT, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_complete(titles)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    workers_seen = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    if workers == "2":
        assert len(workers_seen) >= 2  # the pool's processes (and multiprocessing's resource tracker)
    deadline = time.monotonic() + 10  # orphaned pool workers notice within 0.5 s and exit
    while any(map(_alive, workers_seen)) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [p for p in workers_seen if _alive(p)]
    for pid in survivors:  # never leak processes, even when failing
        os.kill(pid, signal.SIGKILL)
    assert not survivors, "workers outlived the killed driver"
    before = _complete(titles)
    assert 2 <= len(before) < N, "the kill did not land midway"
    stamps = {}
    for name in before:  # every visible title folder is complete
        doc = json.loads((titles / name / "title.json").read_text())
        assert doc["title_id"] == name
        assert (titles / name / "variants" / "variants.json").is_file()
        assert (titles / name / "candidates" / "manifest.json").is_file()
        stamps[name] = (titles / name / "title.json").stat().st_mtime_ns
    status = json.loads(run_cli("catalog", "status", str(out), "--json").stdout)
    assert status["state"] == "interrupted"
    assert (status["done"], status["pending"]) == (len(before), N - len(before))

    again = run_cli(*args, "-q")
    assert again.returncode == 0, again.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["skipped"] == len(before) and run["counts"]["built"] == N - len(before)
    assert _complete(titles) == [f"t{i}" for i in range(N)]
    assert not [p.name for p in titles.iterdir() if p.name.startswith(".")]  # temporaries cleaned
    for name, stamp in stamps.items():  # finished titles were not redone
        assert (titles / name / "title.json").stat().st_mtime_ns == stamp
    rows = pq.read_table(out / "catalog.parquet").to_pylist()
    assert {r["title_id"] for r in rows} == {f"t{i}" for i in range(N)}
