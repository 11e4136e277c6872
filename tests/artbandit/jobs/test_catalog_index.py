"""`artbandit simulate --catalog`: the simulator's titles and actions are the catalogue index's rows."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from artbandit.jobs.catalog_build import build_catalog
from artbandit.jobs.catalog_index import actions_by_title
from artbandit.jobs.catalog_title import CatalogOptions
from safeio.engine.local import LocalEngine
from tests.catalog_helpers import make_catalogue, run_cli


def test_simulate_runs_on_the_catalogue_index(tmp_path) -> None:
    table = make_catalogue(tmp_path, 3, broken=1)
    with LocalEngine(1) as engine:
        build_catalog(table, tmp_path / "cat", engine, CatalogOptions(k=3, aspects=("16:9", "1:1"), width=160))
    rows = pq.read_table(tmp_path / "cat" / "catalog.parquet").to_pylist()
    titles, notes = actions_by_title(tmp_path / "cat")
    assert [f for f, _ in titles] == ["t0", "t1", "t2"] and not notes
    for folder, doc in titles:  # actions and features are the index rows, in index order
        mine = [r for r in rows if r["folder"] == folder]
        assert [v["id"] for v in doc["variants"]] == [r["variant_id"] for r in mine]
        assert doc["variants"][0]["features"]["brightness"] == mine[0]["feature_brightness"]

    proc = run_cli(
        "simulate",
        "--catalog",
        str(tmp_path / "cat"),
        "-n",
        "2000",
        "-p",
        "uniform",
        "-p",
        "linucb",
        "-o",
        str(tmp_path / "sim"),
        "--json",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["catalog"]["titles"] == 3 and metrics["catalog"]["real_variants"] is True
    assert metrics["catalog"]["variants"] == len(rows)
    assert set(metrics["policies"]) == {"uniform", "linucb"}
    assert all(m["impressions"] == 2000 for m in metrics["policies"].values())

    proc = run_cli("simulate", "--catalog", str(tmp_path / "nowhere"), "-n", "10", "-o", str(tmp_path / "s2"))
    assert proc.returncode == 1 and proc.stderr.startswith("Error: ") and "Traceback" not in proc.stderr


def test_simulate_takes_each_title_genre_from_the_catalogue(tmp_path) -> None:
    """The index's `genre` column becomes the simulated title's genre (which viewers' genre history
    likes it); a genre the simulated audience does not know is drawn at random, with a note."""
    import numpy as np

    from artbandit.jobs.catalog_index import catalog_variant_dirs
    from simulations.world.scenarios import GENRES, load_scenario
    from simulations.world.titleset import load_variant_dirs

    table = make_catalogue(tmp_path, 3)
    text = table.read_text()
    text = text.replace("t1.mp4,Title 1,drama", "t1.mp4,Title 1,Comedy").replace(
        "t2.mp4,Title 2,drama", "t2.mp4,Title 2,sci-fi"
    )
    table.write_text(text)
    with LocalEngine(1) as engine:
        build_catalog(table, tmp_path / "cat", engine, CatalogOptions(k=3, aspects=("16:9", "1:1"), width=160))
    titles, notes = actions_by_title(tmp_path / "cat", genres=GENRES)
    assert [doc.get("genre") for _, doc in titles] == ["drama", "comedy", None]
    assert notes == [
        f"title 't2' has genre 'sci-fi', not one the simulated audience knows ({', '.join(GENRES)}): drawn at random"
    ]
    scenario = load_scenario("segments")
    with catalog_variant_dirs(tmp_path / "cat", genres=GENRES) as dirs:
        cat = load_variant_dirs(dirs, scenario, np.random.default_rng(0))
        drawn = load_variant_dirs(dirs, scenario, np.random.default_rng(0))
    assert [t.genre for t in cat.titles][:2] == ["drama", "comedy"]
    assert cat.titles[2].genre in GENRES and cat.titles[2].genre == drawn.titles[2].genre  # seeded draw

    proc = run_cli(
        "simulate", "--catalog", str(tmp_path / "cat"), "-n", "500", "-p", "uniform", "-o", str(tmp_path / "sim")
    )
    assert proc.returncode == 0, proc.stderr
    assert "note: title 't2' has genre 'sci-fi'" in proc.stdout + proc.stderr
