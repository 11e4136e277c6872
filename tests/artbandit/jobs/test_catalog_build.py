"""`artbandit catalog build`: the index, failures, title folders as extract/variants write them,
hostile ids, re-runs, and one-line errors through the real console script.

A catalogue build killed with SIGKILL midway leaves only complete titles; the next run continues.

The catalogue build's plan, resume and bookkeeping, without decoding a frame (issue 28).

A fake engine stands in for the pool: each "title" is built by `fake_build` in a millisecond, writing
a title.json as build_title does. So every rule of `build_catalog` / `_finish` / `catalog_status` is
checked by hand-worked numbers: what is skipped, rebuilt, retried; the counts and timings in run.json;
failures.jsonl; the index rows; an interrupted run; status.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from artbandit.jobs.catalog_build import build_catalog, build_lock, clean_temporaries
from artbandit.jobs.catalog_input import CatalogError, folder_name
from artbandit.jobs.catalog_status import catalog_status, format_status
from artbandit.jobs.catalog_title import TITLE_FILE, TITLE_SCHEMA, CatalogOptions
from safeio.engine.base import TaskResult
from safeio.engine.local import LocalEngine
from tests.catalog_helpers import ARTBANDIT, FAST, make_catalogue, run_cli, tiny_video, write_table

OPTS = CatalogOptions(k=3, aspects=("16:9", "1:1"), width=160)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """3 good titles, 1 broken video, 1 missing video, built once through the console script."""
    folder = tmp_path_factory.mktemp("cat")
    table = make_catalogue(folder, 3, broken=1, missing=1)
    proc = run_cli("catalog", "build", str(table), "-o", str(folder / "out"), "-j", "2", *FAST)
    assert proc.returncode == 1, proc.stderr  # some titles failed: non-zero, the rest complete
    assert "2 of 5 titles failed" in proc.stderr and "Traceback" not in proc.stderr
    return folder, folder / "out"


def test_index_reads_back_with_pyarrow_one_row_per_variant(built) -> None:
    _, out = built
    table = pq.read_table(out / "catalog.parquet")
    rows = table.to_pylist()
    assert {r["title_id"] for r in rows} == {"t0", "t1", "t2"}
    by_title: dict[str, list[dict]] = {}
    for r in rows:
        by_title.setdefault(r["title_id"], []).append(r)
    for tid, trs in by_title.items():
        doc = json.loads((out / "titles" / tid / "variants" / "variants.json").read_text())
        assert [r["variant_id"] for r in trs] == [v["id"] for v in doc["variants"]]
        for r, v in zip(trs, doc["variants"]):
            assert (out / r["file"]).is_file() and (out / r["source_file"]).is_file()
            assert r["aspect"] == v["aspect"] and r["treatment"] == v["treatment"]
            assert r["source_frame"] == v["source"]["frame"] and r["source_time_s"] == v["source"]["time_s"]
            for name, value in v["features"].items():
                assert r[f"feature_{name}"] == pytest.approx(value, abs=0)
            # carried columns of the input table
            assert r["genre"] == "drama" and r["title"] == f"Title {tid[1:]}" and r["video"] == f"{tid}.mp4"
    jsonl = [json.loads(line) for line in (out / "catalog.jsonl").read_text().splitlines()]
    assert jsonl == rows
    run = json.loads((out / "run.json").read_text())
    assert run["state"] == "complete"
    assert run["counts"] == {
        "titles": 5,
        "built": 3,
        "skipped": 0,
        "failed": 2,
        "complete": 3,
        "pending": 0,
        "variants": len(rows),
    }
    assert set(run["timings"]["stage_mean_s"]) == {"extract_s", "write_s", "variants_s", "total_s"}
    assert run["options"]["aspects"] == ["16:9", "1:1"] and run["versions"]["pyarrow"]


def test_broken_and_missing_titles_fail_alone_with_stage_and_one_line_reason(built) -> None:
    _, out = built
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert sorted((f["title_id"], f["stage"]) for f in failures) == [("broken0", "extract"), ("missing0", "input")]
    for f in failures:
        assert "\n" not in f["reason"] and f["reason"]
    assert "missing0.mp4: no such file" in next(f["reason"] for f in failures if f["stage"] == "input")
    assert sorted(p.name for p in (out / "titles").iterdir()) == ["t0", "t1", "t2"]  # no trace of failures


def test_title_folders_are_exactly_what_extract_and_variants_write(built, tmp_path) -> None:
    folder, out = built
    assert run_cli("extract", str(folder / "t1.mp4"), "-o", str(tmp_path / "cand"), "-k", "3", "-q").returncode == 0
    proc = run_cli(
        "variants",
        str(tmp_path / "cand"),
        "-o",
        str(tmp_path / "var"),
        "--aspect",
        "16:9",
        "--aspect",
        "1:1",
        "--width",
        "160",
        "--title",
        "Title 1",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    title = out / "titles" / "t1"
    assert sorted(p.name for p in (title / "candidates").iterdir()) == sorted(
        p.name for p in (tmp_path / "cand").iterdir()
    )
    for p in (tmp_path / "cand").iterdir():
        if p.suffix == ".jpg":
            assert (title / "candidates" / p.name).read_bytes() == p.read_bytes()
    ours = json.loads((title / "variants" / "variants.json").read_text())
    theirs = json.loads((tmp_path / "var" / "variants.json").read_text())
    assert ours["options"] == theirs["options"]
    assert [(v["id"], v["features"], v["crop"]) for v in ours["variants"]] == [
        (v["id"], v["features"], v["crop"]) for v in theirs["variants"]
    ]
    for v in ours["variants"]:  # sources name the final folder, not the temporary one it was built in
        assert v["source"]["path"].startswith(str((title / "candidates").absolute()))
        assert (title / "variants" / v["file"]).read_bytes() == (tmp_path / "var" / v["file"]).read_bytes()


def test_status_reports_done_failed_pending(built) -> None:
    _, out = built
    proc = run_cli("catalog", "status", str(out), "--json")
    assert proc.returncode == 0
    s = json.loads(proc.stdout)
    assert (s["state"], s["titles"], s["done"], s["failed"], s["pending"]) == ("complete", 5, 3, 2, 0)
    assert sorted(s["failed_titles"]) == ["broken0", "missing0"]


HOSTILE = [
    "../x",
    "a/b",
    "a_b",
    "A",
    "a",
    ".hidden",
    "con",
    "café",
    "カタログ",
    "x" * 300,
    "t-0123456789",
    "t-0123456789".upper(),
    " spaced ",
    "a\\b",
    "nul.txt",
]


def test_folder_names_are_safe_distinct_and_stable() -> None:
    names = [folder_name(t) for t in HOSTILE]
    assert len(set(names)) == len(HOSTILE)
    assert len({n.lower() for n in names}) == len(HOSTILE)  # no clash on case-insensitive disks either
    for n in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", n), n
    assert folder_name("a") == "a" and folder_name("t0") == "t0"
    assert names == [folder_name(t) for t in HOSTILE]


def test_hostile_title_ids_stay_inside_the_catalogue(tmp_path) -> None:
    video = tiny_video(tmp_path / "v.mp4", seed=3)
    table = write_table(tmp_path / "titles.csv", [{"title_id": t, "video": "v.mp4"} for t in HOSTILE[:6]])
    out = tmp_path / "cat" / "out"
    with LocalEngine(1) as engine:
        result = build_catalog(table, out, engine, OPTS)
    assert result.built == 6 and not result.failures
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat", "titles.csv", "v.mp4"]
    assert sorted(p.name for p in (tmp_path / "cat").iterdir()) == ["out"]
    rows = pq.read_table(out / "catalog.parquet").to_pylist()
    assert sorted({r["title_id"] for r in rows}) == sorted(HOSTILE[:6])
    for r in rows:
        assert (out / r["file"]).resolve().is_relative_to((out / "titles").resolve())
    assert video.is_file()


def test_rerun_skips_unchanged_titles_and_rebuilds_changed_ones(tmp_path) -> None:
    table = make_catalogue(tmp_path, 3)
    out = tmp_path / "out"
    with LocalEngine(1) as engine:
        first = build_catalog(table, out, engine, OPTS)
        assert first.built == 3
        stamp = {t: (out / "titles" / t / "title.json").stat().st_mtime_ns for t in ("t0", "t1", "t2")}
        again = build_catalog(table, out, engine, OPTS)
        assert (again.built, again.skipped) == (0, 3)
        tiny_video(tmp_path / "t1.mp4", seed=11)  # the input changed: that title only is redone
        changed = build_catalog(table, out, engine, OPTS)
        assert (changed.built_ids, changed.skipped) == (["t1"], 2)
        assert (out / "titles" / "t0" / "title.json").stat().st_mtime_ns == stamp["t0"]
        # a video replaced by one of the same size (issue 28): only its modification time tells
        video = tmp_path / "t2.mp4"
        st = video.stat()
        video.write_bytes(video.read_bytes())
        os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
        assert video.stat().st_size == st.st_size
        replaced = build_catalog(table, out, engine, OPTS)
        assert (replaced.built_ids, replaced.skipped) == (["t2"], 2)
        (out / "titles" / "t0" / "notes.txt").write_text("mine")  # a user's file in a title folder
        other = build_catalog(table, out, engine, CatalogOptions(k=3, aspects=("2:3",), width=160))
        assert other.built == 3  # other options: every title is redone
        assert {r["aspect"] for r in pq.read_table(out / "catalog.parquet").to_pylist()} == {"2:3"}
        forced = build_catalog(table, out, engine, CatalogOptions(k=3, aspects=("2:3",), width=160), force=True)
        assert forced.built == 3
    assert not [p for p in (out / "titles").iterdir() if p.name.startswith(".")]
    assert (out / "titles" / "t0" / "notes.txt").read_text() == "mine"  # rebuilt twice, kept (issue 27)


def test_a_second_build_on_the_same_folder_is_refused(tmp_path) -> None:
    table = make_catalogue(tmp_path, 1)
    (tmp_path / "out").mkdir()
    with LocalEngine(1) as engine:
        build_catalog(table, tmp_path / "out", engine, OPTS)
        with build_lock(tmp_path / "out"):
            with pytest.raises(CatalogError, match="another catalog build is running"):
                build_catalog(table, tmp_path / "out", engine, OPTS)


def _one_line_error(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def test_bad_tables_are_one_line_errors_through_the_console_script(tmp_path) -> None:
    tiny = tmp_path / "v.mp4"
    tiny.write_bytes(b"")  # never read: the table is rejected first
    dup = write_table(tmp_path / "dup.csv", [{"title_id": "a", "video": "v.mp4"}, {"title_id": "a", "video": "v.mp4"}])
    assert "duplicate title_id 'a'" in _one_line_error(run_cli("catalog", "build", str(dup), "-o", str(tmp_path / "o")))
    nocol = write_table(tmp_path / "nocol.csv", [{"title_id": "a", "path": "v.mp4"}])
    assert "missing column 'video'" in _one_line_error(
        run_cli("catalog", "build", str(nocol), "-o", str(tmp_path / "o"))
    )
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    assert "not a readable Parquet" in _one_line_error(run_cli("catalog", "build", str(bad), "-o", str(tmp_path / "o")))
    jl = tmp_path / "t.jsonl"
    jl.write_text('{"title_id": "a", "video": "v.mp4"}\n{"title_id": "a", "video": "w.mp4"}\n')
    assert "duplicate title_id" in _one_line_error(run_cli("catalog", "build", str(jl), "-o", str(tmp_path / "o")))
    jl.write_text('{"title_id": "a", "video": "v.mp4"}\nnot json\n')
    assert "t.jsonl:2: not a JSON line" in _one_line_error(
        run_cli("catalog", "build", str(jl), "-o", str(tmp_path / "o"))
    )
    clash = write_table(tmp_path / "clash.csv", [{"title_id": "a", "video": "v.mp4", "aspect": "x"}])
    assert "clashes with an index column" in _one_line_error(
        run_cli("catalog", "build", str(clash), "-o", str(tmp_path / "o"))
    )
    assert not (tmp_path / "o").exists()  # nothing written for a rejected table


def test_a_folder_artbandit_did_not_write_is_never_used(tmp_path) -> None:
    table = make_catalogue(tmp_path, 1)
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    line = _one_line_error(run_cli("catalog", "build", str(table), "-o", str(stranger), *FAST))
    assert "not written by artbandit" in line
    assert sorted(p.name for p in stranger.iterdir()) == ["notes.txt"]
    line = _one_line_error(run_cli("catalog", "build", str(table), "-o", str(tmp_path), *FAST))
    assert "contains an input" in line


def test_a_folder_of_videos_is_one_title_per_file(tmp_path) -> None:
    (tmp_path / "v").mkdir()
    tiny_video(tmp_path / "v" / "one.mp4", seed=1)
    tiny_video(tmp_path / "v" / "two.mp4", seed=2)
    config = tmp_path / "opts.toml"
    config.write_text('k = 3\naspects = ["1:1"]\nwidth = 160\ntreatments = ["none", "warm"]\n')
    proc = run_cli("catalog", "build", str(tmp_path / "v"), "-o", str(tmp_path / "out"), "--config", str(config), "-q")
    assert proc.returncode == 0, proc.stderr
    rows = pq.read_table(tmp_path / "out" / "catalog.parquet").to_pylist()
    assert {r["title_id"] for r in rows} == {"one", "two"}
    assert {(r["aspect"], r["treatment"]) for r in rows} == {("1:1", "none"), ("1:1", "warm")}
    bad = tmp_path / "bad.toml"
    bad.write_text('aspects = ["1:1"]\ntreatment = "warm"\n')
    assert "unknown option 'treatment'" in _one_line_error(
        run_cli("catalog", "build", str(tmp_path / "v"), "-o", str(tmp_path / "out"), "--config", str(bad))
    )


def test_quiet_hides_progress_never_the_reason_for_a_failure(tmp_path) -> None:
    # issue 27: `catalog build -q` with one broken title exited 1 with an empty stderr
    table = make_catalogue(tmp_path, 0, broken=1, missing=1)
    proc = run_cli("catalog", "build", str(table), "-o", str(tmp_path / "out"), "-q", "-j", "1", *FAST)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("failed: broken0 (extract): ") and "broken0.mp4" in lines[0]
    assert lines[1] == f"failed: missing0 (input): {tmp_path / 'missing0.mp4'}: no such file"
    assert lines[2:] == [f"2 of 2 titles failed; see {tmp_path / 'out'}/failures.jsonl"]


def test_a_title_id_ending_in_a_newline_gets_a_hashed_folder() -> None:
    # '$' matches before a trailing newline: 'a\n' passed as plainly safe and became a folder name
    # with a newline in it; names are matched whole (\Z)
    assert folder_name("a\n") != "a\n" and "\n" not in folder_name("a\n")
    assert folder_name("a\n") != folder_name("a")


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


FAKE_OPTS = CatalogOptions(k=2, aspects=("1:1",), width=64)


def fake_build(task) -> dict:
    """Title `bad*` fails at extract, `crash*` kills its task, others get 2 variants (ids from the
    title id), timings extract 1.23456 s and total 1.5 s, `vf*` one failed variant, `old*` a
    title.json without the variant failures key."""
    if task.title_id.startswith("bad"):
        return {"failed": "extract", "reason": f"{task.video}: broken"}
    if task.title_id.startswith("crash"):
        raise RuntimeError("worker died")
    variants = [
        {
            "variant_id": f"{task.title_id}-v{i}",
            "file": f"v{i}.jpg",
            "aspect": "1:1",
            "treatment": "none",
            "width": 64,
            "height": 64,
            "source_file": "c.jpg",
            "source_frame": 10 * i,
            "source_time_s": 0.5 * i,
            "features": {"brightness": 0.25 * (i + 1)},
        }
        for i in range(2)
    ]
    doc = {
        "schema": TITLE_SCHEMA,
        "title_id": task.title_id,
        "key": task.key,
        "variants": variants,
        "variant_failures": ["v9: too small"] if task.title_id.startswith("vf") else [],
        "timings": {"extract_s": 1.23456, "total_s": 1.5},
    }
    if task.title_id.startswith("old"):  # a title.json written before variant failures were recorded
        del doc["variant_failures"]
    final = Path(task.final)
    final.mkdir(parents=True, exist_ok=True)
    (final / TITLE_FILE).write_text(json.dumps(doc))
    return doc


class FakeEngine:
    name, workers = "fake", 1

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after, self.ran = stop_after, []

    def imap(self, fn, items):
        for i, item in enumerate(items):
            if self.stop_after is not None and i == self.stop_after:
                raise KeyboardInterrupt
            self.ran.append(item.title_id)
            try:
                yield TaskResult(i, fake_build(item))
            except Exception as exc:  # noqa: BLE001 - as the real engines do
                yield TaskResult(i, error=f"{type(exc).__name__}: {exc}")


def table(tmp_path: Path, ids: list[str]) -> Path:
    for t in ids:
        (tmp_path / f"{t}.mp4").write_bytes(b"x" * (len(t) + 1))
    return write_table(
        tmp_path / "titles.csv",
        [{"title_id": t, "video": f"{t}.mp4", "title": t.upper(), "genre": "drama"} for t in ids],
    )


def test_a_build_counts_times_and_indexes_every_title(tmp_path, monkeypatch) -> None:
    import types

    import artbandit.jobs.catalog_build as cb

    clock = iter([10.0, 12.3456])  # the build's start and end: 2.3456 s of wall time
    monkeypatch.setattr(cb, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    src = table(tmp_path, ["old", "bad1", "vf", "crash"])
    out = tmp_path / "out"
    seen, calls = [], []
    result = build_catalog(
        src,
        out,
        FakeEngine(),
        FAKE_OPTS,
        progress=lambda *c: calls.append(c),
        on_title=lambda tid, doc: seen.append((tid, "failed" in doc)),
    )
    assert calls == [(0, 4, "titles"), (1, 4, "titles"), (2, 4, "titles"), (3, 4, "titles"), (4, 4, "titles")]
    assert seen == [("old", False), ("bad1", True), ("vf", False), ("crash", True)]
    assert (result.titles, result.built_ids, result.skipped, result.failed_titles) == (4, ["old", "vf"], 0, 2)
    assert result.failures == [
        {"title_id": "bad1", "stage": "extract", "reason": f"{tmp_path / 'bad1.mp4'}: broken"},
        {"title_id": "crash", "stage": "task", "reason": "RuntimeError: worker died"},
        {"title_id": "vf", "stage": "variant", "reason": "v9: too small"},
    ]
    assert [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()] == result.failures
    text = (out / "run.json").read_text()
    run = json.loads(text)
    assert text.startswith('{\n  "schema": ') and text.endswith("}\n")  # indented for people
    assert run["state"] == "complete" and run["force"] is False and run["engine"] == "fake"
    assert run["finished"] >= run["started"] and run["finished"].endswith("+00:00")
    # 4 titles: 2 built (4 variants), 2 failed, none pending; two fresh titles of 1.0 + 1.5 s each
    assert run["counts"] == {
        "titles": 4,
        "built": 2,
        "skipped": 0,
        "failed": 2,
        "complete": 2,
        "pending": 0,
        "variants": 4,
    }
    # two fresh titles: totals 2 x 1.23456 = 2.46912 -> 2.469 (3 places), mean 1.2346 (4 places)
    assert run["timings"]["stage_totals_s"] == {"extract_s": 2.469, "total_s": 3.0}
    assert run["timings"]["stage_mean_s"] == {"extract_s": 1.2346, "total_s": 1.5}
    # 4 titles finished (2 built + 2 failed) in 2.3456 s: 60 x 4 / 2.3456 = 102.319 titles a minute
    assert run["timings"]["wall_s"] == 2.346 and run["timings"]["titles_per_min"] == 102.319
    assert [json.loads(x)["title_id"] for x in (out / "plan.jsonl").read_text().splitlines()] == [
        "old",
        "bad1",
        "vf",
        "crash",
    ]
    rows = pq.read_table(out / "catalog.parquet").to_pylist()
    assert [(r["title_id"], r["variant_id"]) for r in rows] == [
        ("old", "old-v0"),
        ("old", "old-v1"),
        ("vf", "vf-v0"),
        ("vf", "vf-v1"),
    ]
    assert rows[1]["file"] == "titles/old/variants/v1.jpg"
    assert rows[1]["source_file"] == "titles/old/candidates/c.jpg"
    assert rows[1]["feature_brightness"] == 0.5 and rows[1]["genre"] == "drama" and rows[1]["title"] == "OLD"
    assert [json.loads(x) for x in (out / "catalog.jsonl").read_text().splitlines()] == rows

    s = catalog_status(out)
    assert (s["state"], s["titles"], s["done"], s["failed"], s["pending"], s["variants"]) == ("complete", 4, 2, 2, 0, 4)
    assert s["failed_titles"] == ["bad1", "crash"] and s["pending_titles"] == []
    assert s["finished"] == run["finished"] and s["engine"] == "fake"
    assert format_status(s) == (
        f"{out}: complete; 4 titles: 2 done, 2 failed, 0 pending; 4 variants\n"
        "last run (fake): 2.3 s, 102.3 titles/min\n"
        "per title: extract 1.23 s, total 1.50 s\n"
        "failed: 'bad1', 'crash' (see failures.jsonl)"
    )


def test_resume_skips_complete_titles_retries_failed_ones_and_force_rebuilds(tmp_path) -> None:
    src = table(tmp_path, ["a", "bad1", "b"])
    out = tmp_path / "out"
    build_catalog(src, out, FakeEngine(), FAKE_OPTS)
    engine = FakeEngine()
    again = build_catalog(src, out, engine, FAKE_OPTS)
    assert engine.ran == ["bad1"]  # failed titles are always retried, complete ones skipped
    assert (again.built_ids, again.skipped, again.failed_titles) == ([], 2, 1)
    run = json.loads((out / "run.json").read_text())
    assert run["counts"] == {
        "titles": 3,
        "built": 0,
        "skipped": 2,
        "failed": 1,
        "complete": 2,
        "pending": 0,
        "variants": 4,
    }
    assert run["timings"]["stage_mean_s"] == {} and run["timings"]["stage_totals_s"] == {}
    # the same size, another modification time: that title is rebuilt
    video = tmp_path / "b.mp4"
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    engine = FakeEngine()
    assert build_catalog(src, out, engine, FAKE_OPTS).built_ids == ["b"] and engine.ran == ["bad1", "b"]
    engine = FakeEngine()  # another option: every title
    assert build_catalog(src, out, engine, CatalogOptions(k=3, aspects=("1:1",), width=64)).built == 2
    engine = FakeEngine()
    forced = build_catalog(src, out, engine, CatalogOptions(k=3, aspects=("1:1",), width=64), force=True)
    assert engine.ran == ["a", "bad1", "b"] and forced.built_ids == ["a", "b"]
    assert json.loads((out / "run.json").read_text())["force"] is True


def test_an_interrupted_build_indexes_what_is_done_and_status_says_so(tmp_path) -> None:
    src = table(tmp_path, ["a", "b", "c"])
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        build_catalog(src, out, FakeEngine(stop_after=1), FAKE_OPTS)
    run = json.loads((out / "run.json").read_text())
    assert run["state"] == "interrupted"
    assert run["counts"] == {
        "titles": 3,
        "built": 1,
        "skipped": 0,
        "failed": 0,
        "complete": 1,
        "pending": 2,
        "variants": 2,
    }
    assert [r["title_id"] for r in pq.read_table(out / "catalog.parquet").to_pylist()] == ["a", "a"]
    s = catalog_status(out)
    assert (s["state"], s["done"], s["failed"], s["pending"], s["pending_titles"]) == (
        "interrupted",
        1,
        0,
        2,
        ["b", "c"],
    )


def test_a_column_named_like_an_index_column_is_refused_and_temporaries_of_dead_runs_go(tmp_path) -> None:
    src = write_table(tmp_path / "t.csv", [{"title_id": "a", "video": "a.mp4", "variant_id": "x"}])
    with pytest.raises(CatalogError, match="column 'variant_id' of the table clashes with an index column"):
        build_catalog(src, tmp_path / "out", FakeEngine(), FAKE_OPTS)
    titles = tmp_path / "titles"
    titles.mkdir()
    dead = titles / f".a.abtmp-{2**22 + 5}-abcd"  # a pid above pid_max: never alive
    dead.mkdir()
    mine = titles / f".a.abtmp-{os.getpid()}-abcd"
    mine.mkdir()
    (titles / "b").mkdir()
    clean_temporaries(titles)
    assert sorted(p.name for p in titles.iterdir()) == ["b"]  # this process's own too: it is not building


def test_a_run_that_took_no_measurable_time_has_no_rate(tmp_path, monkeypatch) -> None:
    import types

    import artbandit.jobs.catalog_build as cb

    monkeypatch.setattr(cb, "time", types.SimpleNamespace(perf_counter=lambda: 5.0))  # wall time 0
    build_catalog(table(tmp_path, ["a"]), tmp_path / "out", FakeEngine(), FAKE_OPTS)
    timings = json.loads((tmp_path / "out" / "run.json").read_text())["timings"]
    assert timings["wall_s"] == 0.0 and timings["titles_per_min"] is None  # never a division by zero
    clock = iter([5.0, 5.5])  # half a second: a rate (1 title / 0.5 s = 120 a minute)
    monkeypatch.setattr(cb, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    build_catalog(table(tmp_path, ["a"]), tmp_path / "out", FakeEngine(), FAKE_OPTS, force=True)
    assert json.loads((tmp_path / "out" / "run.json").read_text())["timings"]["titles_per_min"] == 120.0


def test_the_catalogue_folder_may_not_hold_the_table(tmp_path) -> None:
    from safeio.errors import OutputFolderError

    src = table(tmp_path, ["a"])
    with pytest.raises(OutputFolderError, match="contains an input"):
        build_catalog(src, tmp_path, FakeEngine(), FAKE_OPTS)  # the folder holding titles.csv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "titles.csv"]
    # the table alone inside the folder (its videos elsewhere) is refused too
    out = tmp_path / "out"
    out.mkdir()
    inside = write_table(out / "titles.csv", [{"title_id": "a", "video": str(tmp_path / "a.mp4")}])
    with pytest.raises(OutputFolderError, match=r"contains an input \(.*titles\.csv\)"):
        build_catalog(inside, out, FakeEngine(), FAKE_OPTS)
    assert sorted(p.name for p in out.iterdir()) == ["titles.csv"]


class PeekingEngine(FakeEngine):
    """Reads what a running build has written (what `catalog status` sees meanwhile) before the
    first title, and keeps the tasks it was given."""

    def imap(self, fn, items):
        root = Path(items[0].final).parent.parent
        self.run_text = (root / "run.json").read_text()
        self.run_json = json.loads(self.run_text)
        self.plan = [json.loads(x) for x in (root / "plan.jsonl").read_text().splitlines()]
        self.status = catalog_status(root)
        self.tasks = list(items)
        yield from super().imap(fn, items)


def test_while_a_build_runs_its_plan_and_run_json_say_so(tmp_path) -> None:
    import platform

    src = table(tmp_path, ["a", "b"])
    out = tmp_path / "out"
    engine = PeekingEngine()
    result = build_catalog(src, out, engine, FAKE_OPTS)
    assert result.root == out
    run = engine.run_json
    assert {k: run[k] for k in ("schema", "state", "source", "engine", "workers", "force")} == {
        "schema": "artbandit.catalog-run/1",
        "state": "running",
        "source": str(src),
        "engine": "fake",
        "workers": 1,
        "force": False,
    }
    assert run["options"] == FAKE_OPTS.to_dict() and run["versions"]["python"] == platform.python_version()
    assert run["started"].endswith("+00:00") and "finished" not in run
    assert engine.run_text == json.dumps(run, indent=2) + "\n"  # indented for people, as at the end
    assert engine.plan == [
        {"title_id": "a", "folder": "a", "video": str(tmp_path / "a.mp4")},
        {"title_id": "b", "folder": "b", "video": str(tmp_path / "b.mp4")},
    ]
    assert (engine.status["state"], engine.status["pending"]) == ("running", 2)  # the build holds the lock
    # the table's `title` is each task's overlay and part of its input key
    assert [(t.overlay, t.key["overlay"]) for t in engine.tasks] == [("A", "A"), ("B", "B")]
    assert [t.final for t in engine.tasks] == [
        str((out / "titles" / "a").absolute()),
        str((out / "titles" / "b").absolute()),
    ]
