"""`artbandit catalog build`: the index, failures, title folders as extract/variants write them,
hostile ids, re-runs, and one-line errors through the real console script."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from artbandit.jobs.catalog_build import build_catalog, build_lock
from artbandit.jobs.catalog_input import CatalogError, folder_name
from artbandit.jobs.catalog_title import CatalogOptions
from safeio.engine.local import LocalEngine
from tests.catalog_helpers import FAST, make_catalogue, run_cli, tiny_video, write_table

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
    assert run["counts"] == {"titles": 5, "built": 3, "skipped": 0, "failed": 2, "complete": 3, "pending": 0,
                             "variants": len(rows)}
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
    proc = run_cli("variants", str(tmp_path / "cand"), "-o", str(tmp_path / "var"), "--aspect", "16:9",
                   "--aspect", "1:1", "--width", "160", "--title", "Title 1", "-q")
    assert proc.returncode == 0, proc.stderr
    title = out / "titles" / "t1"
    assert sorted(p.name for p in (title / "candidates").iterdir()) == sorted(p.name for p in (tmp_path / "cand").iterdir())
    for p in (tmp_path / "cand").iterdir():
        if p.suffix == ".jpg":
            assert (title / "candidates" / p.name).read_bytes() == p.read_bytes()
    ours = json.loads((title / "variants" / "variants.json").read_text())
    theirs = json.loads((tmp_path / "var" / "variants.json").read_text())
    assert ours["options"] == theirs["options"]
    assert [(v["id"], v["features"], v["crop"]) for v in ours["variants"]] == \
           [(v["id"], v["features"], v["crop"]) for v in theirs["variants"]]
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


HOSTILE = ["../x", "a/b", "a_b", "A", "a", ".hidden", "con", "café", "カタログ", "x" * 300, "t-0123456789",
           "t-0123456789".upper(), " spaced ", "a\\b", "nul.txt"]


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
    assert "missing column 'video'" in _one_line_error(run_cli("catalog", "build", str(nocol), "-o", str(tmp_path / "o")))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    assert "not a readable Parquet" in _one_line_error(run_cli("catalog", "build", str(bad), "-o", str(tmp_path / "o")))
    jl = tmp_path / "t.jsonl"
    jl.write_text('{"title_id": "a", "video": "v.mp4"}\n{"title_id": "a", "video": "w.mp4"}\n')
    assert "duplicate title_id" in _one_line_error(run_cli("catalog", "build", str(jl), "-o", str(tmp_path / "o")))
    jl.write_text('{"title_id": "a", "video": "v.mp4"}\nnot json\n')
    assert "t.jsonl:2: not a JSON line" in _one_line_error(run_cli("catalog", "build", str(jl), "-o", str(tmp_path / "o")))
    clash = write_table(tmp_path / "clash.csv", [{"title_id": "a", "video": "v.mp4", "aspect": "x"}])
    assert "clashes with an index column" in _one_line_error(
        run_cli("catalog", "build", str(clash), "-o", str(tmp_path / "o")))
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
        run_cli("catalog", "build", str(tmp_path / "v"), "-o", str(tmp_path / "out"), "--config", str(bad)))


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
