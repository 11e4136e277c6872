"""The catalogue build's plan, resume and bookkeeping, without decoding a frame (issue 28).

A fake engine stands in for the pool: each "title" is built by `fake_build` in a millisecond, writing
a title.json as build_title does. So every rule of `build_catalog` / `_finish` / `catalog_status` is
checked by hand-worked numbers: what is skipped, rebuilt, retried; the counts and timings in run.json;
failures.jsonl; the index rows; an interrupted run; status."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from artbandit.jobs.catalog_build import build_catalog, clean_temporaries
from artbandit.jobs.catalog_input import CatalogError
from artbandit.jobs.catalog_status import catalog_status, format_status
from artbandit.jobs.catalog_title import TITLE_FILE, TITLE_SCHEMA, CatalogOptions
from safeio.engine.base import TaskResult
from tests.catalog_helpers import write_table

OPTS = CatalogOptions(k=2, aspects=("1:1",), width=64)


def fake_build(task) -> dict:
    """Title `bad*` fails at extract, `crash*` kills its task, others get 2 variants (ids from the
    title id), timings extract 1.23456 s and total 1.5 s, `vf*` one failed variant, `old*` a
    title.json without the variant failures key."""
    if task.title_id.startswith("bad"):
        return {"failed": "extract", "reason": f"{task.video}: broken"}
    if task.title_id.startswith("crash"):
        raise RuntimeError("worker died")
    variants = [{"variant_id": f"{task.title_id}-v{i}", "file": f"v{i}.jpg", "aspect": "1:1", "treatment": "none",
                 "width": 64, "height": 64, "source_file": "c.jpg", "source_frame": 10 * i,
                 "source_time_s": 0.5 * i, "features": {"brightness": 0.25 * (i + 1)}} for i in range(2)]
    doc = {"schema": TITLE_SCHEMA, "title_id": task.title_id, "key": task.key, "variants": variants,
           "variant_failures": ["v9: too small"] if task.title_id.startswith("vf") else [],
           "timings": {"extract_s": 1.23456, "total_s": 1.5}}
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
    return write_table(tmp_path / "titles.csv", [{"title_id": t, "video": f"{t}.mp4", "title": t.upper(),
                                                  "genre": "drama"} for t in ids])


def test_a_build_counts_times_and_indexes_every_title(tmp_path, monkeypatch) -> None:
    import types

    import artbandit.jobs.catalog_build as cb

    clock = iter([10.0, 12.3456])  # the build's start and end: 2.3456 s of wall time
    monkeypatch.setattr(cb, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    src = table(tmp_path, ["old", "bad1", "vf", "crash"])
    out = tmp_path / "out"
    seen, calls = [], []
    result = build_catalog(src, out, FakeEngine(), OPTS, progress=lambda *c: calls.append(c),
                           on_title=lambda tid, doc: seen.append((tid, "failed" in doc)))
    assert calls == [(0, 4, "titles"), (1, 4, "titles"), (2, 4, "titles"), (3, 4, "titles"), (4, 4, "titles")]
    assert seen == [("old", False), ("bad1", True), ("vf", False), ("crash", True)]
    assert (result.titles, result.built_ids, result.skipped, result.failed_titles) == (4, ["old", "vf"], 0, 2)
    assert result.failures == [
        {"title_id": "bad1", "stage": "extract", "reason": f"{tmp_path / 'bad1.mp4'}: broken"},
        {"title_id": "crash", "stage": "task", "reason": "RuntimeError: worker died"},
        {"title_id": "vf", "stage": "variant", "reason": "v9: too small"}]
    assert [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()] == result.failures
    text = (out / "run.json").read_text()
    run = json.loads(text)
    assert text.startswith('{\n  "schema": ') and text.endswith("}\n")  # indented for people
    assert run["state"] == "complete" and run["force"] is False and run["engine"] == "fake"
    assert run["finished"] >= run["started"] and run["finished"].endswith("+00:00")
    # 4 titles: 2 built (4 variants), 2 failed, none pending; two fresh titles of 1.0 + 1.5 s each
    assert run["counts"] == {"titles": 4, "built": 2, "skipped": 0, "failed": 2, "complete": 2, "pending": 0,
                             "variants": 4}
    # two fresh titles: totals 2 x 1.23456 = 2.46912 -> 2.469 (3 places), mean 1.2346 (4 places)
    assert run["timings"]["stage_totals_s"] == {"extract_s": 2.469, "total_s": 3.0}
    assert run["timings"]["stage_mean_s"] == {"extract_s": 1.2346, "total_s": 1.5}
    # 4 titles finished (2 built + 2 failed) in 2.3456 s: 60 x 4 / 2.3456 = 102.319 titles a minute
    assert run["timings"]["wall_s"] == 2.346 and run["timings"]["titles_per_min"] == 102.319
    assert [json.loads(x)["title_id"] for x in (out / "plan.jsonl").read_text().splitlines()] == \
           ["old", "bad1", "vf", "crash"]
    rows = pq.read_table(out / "catalog.parquet").to_pylist()
    assert [(r["title_id"], r["variant_id"]) for r in rows] == [("old", "old-v0"), ("old", "old-v1"),
                                                                 ("vf", "vf-v0"), ("vf", "vf-v1")]
    assert rows[1]["file"] == "titles/old/variants/v1.jpg"
    assert rows[1]["source_file"] == "titles/old/candidates/c.jpg"
    assert rows[1]["feature_brightness"] == 0.5 and rows[1]["genre"] == "drama" and rows[1]["title"] == "OLD"
    assert [json.loads(x) for x in (out / "catalog.jsonl").read_text().splitlines()] == rows

    s = catalog_status(out)
    assert (s["state"], s["titles"], s["done"], s["failed"], s["pending"], s["variants"]) == \
           ("complete", 4, 2, 2, 0, 4)
    assert s["failed_titles"] == ["bad1", "crash"] and s["pending_titles"] == []
    assert s["finished"] == run["finished"] and s["engine"] == "fake"
    assert format_status(s) == (f"{out}: complete; 4 titles: 2 done, 2 failed, 0 pending; 4 variants\n"
                                "last run (fake): 2.3 s, 102.3 titles/min\n"
                                "per title: extract 1.23 s, total 1.50 s\n"
                                "failed: 'bad1', 'crash' (see failures.jsonl)")


def test_resume_skips_complete_titles_retries_failed_ones_and_force_rebuilds(tmp_path) -> None:
    src = table(tmp_path, ["a", "bad1", "b"])
    out = tmp_path / "out"
    build_catalog(src, out, FakeEngine(), OPTS)
    engine = FakeEngine()
    again = build_catalog(src, out, engine, OPTS)
    assert engine.ran == ["bad1"]  # failed titles are always retried, complete ones skipped
    assert (again.built_ids, again.skipped, again.failed_titles) == ([], 2, 1)
    run = json.loads((out / "run.json").read_text())
    assert run["counts"] == {"titles": 3, "built": 0, "skipped": 2, "failed": 1, "complete": 2, "pending": 0,
                             "variants": 4}
    assert run["timings"]["stage_mean_s"] == {} and run["timings"]["stage_totals_s"] == {}
    # the same size, another modification time: that title is rebuilt
    video = tmp_path / "b.mp4"
    st = video.stat()
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    engine = FakeEngine()
    assert build_catalog(src, out, engine, OPTS).built_ids == ["b"] and engine.ran == ["bad1", "b"]
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
        build_catalog(src, out, FakeEngine(stop_after=1), OPTS)
    run = json.loads((out / "run.json").read_text())
    assert run["state"] == "interrupted"
    assert run["counts"] == {"titles": 3, "built": 1, "skipped": 0, "failed": 0, "complete": 1, "pending": 2,
                             "variants": 2}
    assert [r["title_id"] for r in pq.read_table(out / "catalog.parquet").to_pylist()] == ["a", "a"]
    s = catalog_status(out)
    assert (s["state"], s["done"], s["failed"], s["pending"], s["pending_titles"]) == ("interrupted", 1, 0, 2,
                                                                                       ["b", "c"])


def test_a_column_named_like_an_index_column_is_refused_and_temporaries_of_dead_runs_go(tmp_path) -> None:
    src = write_table(tmp_path / "t.csv", [{"title_id": "a", "video": "a.mp4", "variant_id": "x"}])
    with pytest.raises(CatalogError, match="column 'variant_id' of the table clashes with an index column"):
        build_catalog(src, tmp_path / "out", FakeEngine(), OPTS)
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
    build_catalog(table(tmp_path, ["a"]), tmp_path / "out", FakeEngine(), OPTS)
    timings = json.loads((tmp_path / "out" / "run.json").read_text())["timings"]
    assert timings["wall_s"] == 0.0 and timings["titles_per_min"] is None  # never a division by zero
    clock = iter([5.0, 5.5])  # half a second: a rate (1 title / 0.5 s = 120 a minute)
    monkeypatch.setattr(cb, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))
    build_catalog(table(tmp_path, ["a"]), tmp_path / "out", FakeEngine(), OPTS, force=True)
    assert json.loads((tmp_path / "out" / "run.json").read_text())["timings"]["titles_per_min"] == 120.0


def test_the_catalogue_folder_may_not_hold_the_table(tmp_path) -> None:
    from safeio.errors import OutputFolderError

    src = table(tmp_path, ["a"])
    with pytest.raises(OutputFolderError, match="contains an input"):
        build_catalog(src, tmp_path, FakeEngine(), OPTS)  # the folder holding titles.csv
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "titles.csv"]
    # the table alone inside the folder (its videos elsewhere) is refused too
    out = tmp_path / "out"
    out.mkdir()
    inside = write_table(out / "titles.csv", [{"title_id": "a", "video": str(tmp_path / "a.mp4")}])
    with pytest.raises(OutputFolderError, match=r"contains an input \(.*titles\.csv\)"):
        build_catalog(inside, out, FakeEngine(), OPTS)
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
    result = build_catalog(src, out, engine, OPTS)
    assert result.root == out
    run = engine.run_json
    assert {k: run[k] for k in ("schema", "state", "source", "engine", "workers", "force")} == {
        "schema": "artbandit.catalog-run/1", "state": "running", "source": str(src), "engine": "fake",
        "workers": 1, "force": False}
    assert run["options"] == OPTS.to_dict() and run["versions"]["python"] == platform.python_version()
    assert run["started"].endswith("+00:00") and "finished" not in run
    assert engine.run_text == json.dumps(run, indent=2) + "\n"  # indented for people, as at the end
    assert engine.plan == [{"title_id": "a", "folder": "a", "video": str(tmp_path / "a.mp4")},
                           {"title_id": "b", "folder": "b", "video": str(tmp_path / "b.mp4")}]
    assert (engine.status["state"], engine.status["pending"]) == ("running", 2)  # the build holds the lock
    # the table's `title` is each task's overlay and part of its input key
    assert [(t.overlay, t.key["overlay"]) for t in engine.tasks] == [("A", "A"), ("B", "B")]
    assert [t.final for t in engine.tasks] == [str((out / "titles" / "a").absolute()),
                                               str((out / "titles" / "b").absolute())]
