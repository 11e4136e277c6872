"""Benchmark: a whole catalogue with `catalog build` (local pool at 1 and 2 workers, Ray on 2 CPUs)
against the shell-loop way, one `artbandit extract` + one `artbandit variants` call per title.

    python bench/catalog.py [--titles 24] [--seconds 6] [--json out.json]

The catalogue: `--titles` clips from the project's sample generator (imaging.make_sample_video,
640x360, `--seconds` each, a different seed per title, so no two titles are alike), two of them
broken on purpose (one is not a video at all, one is an mp4 cut off after its first kilobytes).
Every run builds the same catalogue from scratch with the default options (k=8, four aspects,
title overlay) into its own folder, and the per-title CLI loop makes the same outputs. Ray's
start-up (ray.init) is timed apart from its build. Titles/min counts every title, failed ones
included (they cost their decode attempt). Targets: 2 workers >= 1.7x 1 worker; Ray within 15% of
the 2-worker pool once started. Needs the test extra (Ray): pip install -e '.[test,bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (pool workers, CLI calls; not Ray's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


WORK = HERE / "_work" / "catalog"
ARTBANDIT = str(Path(sys.executable).parent / "artbandit")


def make_titles(n: int, seconds: float) -> Path:
    """titles.csv and its clips (cached by count and length)."""
    from imaging.decode.sample import make_sample_video

    folder = WORK / f"titles_{n}x{seconds:g}s"
    table = folder / "titles.csv"
    if table.is_file():
        return table
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["title_id,video,title,genre"]
    genres = ["drama", "comedy", "documentary", "thriller"]
    for i in range(n - 2):
        make_sample_video(folder / f"title{i:02d}.mp4", seconds=seconds, width=640, height=360, fps=25, seed=i + 1)
        lines.append(f"title{i:02d},title{i:02d}.mp4,Title {i},{genres[i % 4]}")
    (folder / "not_a_video.mp4").write_bytes(os.urandom(50_000))
    good = (folder / "title00.mp4").read_bytes()
    (folder / "cut_off.mp4").write_bytes(good[:4096])
    lines += ["broken_bytes,not_a_video.mp4,Broken,drama", "cut_off,cut_off.mp4,Cut off,drama"]
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table


def run_engine(table: Path, engine_name: str, workers: int) -> dict:
    """One fresh build; wall time of the build alone, and Ray's start-up apart."""
    from artbandit.jobs.catalog_build import build_catalog
    from safeio.engine import make_engine

    out = WORK / f"out_{engine_name}_{workers}"
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    engine = make_engine(engine_name, workers=workers)
    startup = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        result = build_catalog(table, out, engine)
        wall = time.perf_counter() - t1
    finally:
        engine.close()
    cpu = None if engine_name == "ray" else cpu_seconds() - c0
    run = json.loads((out / "run.json").read_text())
    return {
        "wall_s": wall,
        "startup_s": startup,
        "cpu_s": cpu,
        "load_before": load,
        "built": result.built,
        "failed": result.failed_titles,
        "variants": result.variants,
        "stage_mean_s": run["timings"]["stage_mean_s"],
    }


def run_cli_loop(table: Path) -> dict:
    """extract + variants per title through the console script, one after the other."""
    from artbandit.jobs.catalog_input import load_titles

    out = WORK / "out_cli"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    built = failed = 0
    load, c0 = os.getloadavg()[0], cpu_seconds()
    t0 = time.perf_counter()
    for spec in load_titles(table):
        cand, var = out / spec.folder / "candidates", out / spec.folder / "variants"
        ok = (
            subprocess.run([ARTBANDIT, "extract", spec.video, "-o", str(cand), "-q"], capture_output=True).returncode
            == 0
        )
        ok = (
            ok
            and subprocess.run(
                [ARTBANDIT, "variants", str(cand), "-o", str(var), "--title", spec.overlay or "", "-q"]
                if spec.overlay
                else [ARTBANDIT, "variants", str(cand), "-o", str(var), "-q"],
                capture_output=True,
            ).returncode
            == 0
        )
        built, failed = built + ok, failed + (not ok)
    return {
        "wall_s": time.perf_counter() - t0,
        "startup_s": 0.0,
        "cpu_s": cpu_seconds() - c0,
        "load_before": load,
        "built": built,
        "failed": failed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--titles", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = ap.parse_args()
    table = make_titles(args.titles, args.seconds)
    n = args.titles
    print(
        f"{n} titles ({n - 2} good, 2 broken), {args.seconds:g} s each at 640x360; "
        f"{os.cpu_count()} CPUs, SHARED with other jobs right now (load {os.getloadavg()[0]:.1f}): "
        "figures are raw, from one run"
    )
    runs = {
        "CLI loop (extract + variants per title)": run_cli_loop(table),
        "catalog build, local, 1 worker": run_engine(table, "local", 1),
        "catalog build, local, 2 workers": run_engine(table, "local", 2),
        "catalog build, Ray, 2 CPUs": run_engine(table, "ray", 2),
    }
    base = runs["CLI loop (extract + variants per title)"]["wall_s"]
    print(
        f"{'run':42s} {'wall s':>7s} {'titles/min':>10s} {'vs CLI loop':>11s} {'start-up s':>10s} "
        f"{'CPU s':>6s} {'cores got':>9s} {'load':>5s} built/failed"
    )
    for name, r in runs.items():
        r["titles_per_min"] = 60 * n / r["wall_s"]
        cpu = "-" if r["cpu_s"] is None else f"{r['cpu_s']:.0f}"
        got = "-" if r["cpu_s"] is None else f"{r['cpu_s'] / r['wall_s']:.2f}"
        print(
            f"{name:42s} {r['wall_s']:7.1f} {r['titles_per_min']:10.1f} {base / r['wall_s']:10.2f}x "
            f"{r['startup_s']:10.1f} {cpu:>6s} {got:>9s} {r['load_before']:5.1f} {r['built']}/{r['failed']}"
        )
    print("(cores got = CPU seconds / wall seconds: how much of the machine the run actually obtained)")
    one, two = runs["catalog build, local, 1 worker"], runs["catalog build, local, 2 workers"]
    on_ray = runs["catalog build, Ray, 2 CPUs"]
    speedup = one["wall_s"] / two["wall_s"]
    ray_gap = on_ray["wall_s"] / two["wall_s"] - 1
    per_title = one["wall_s"] / n
    print(f"2 workers vs 1: {speedup:.2f}x (target >= 1.7x: {'met' if speedup >= 1.7 else 'NOT met'})")
    print(
        f"Ray (started) vs local 2 workers: {ray_gap:+.1%} wall (target within 15%: "
        f"{'met' if ray_gap <= 0.15 else 'NOT met'}); Ray start-up {on_ray['startup_s']:.1f} s"
    )
    print(
        f"per-title cost, 1 worker: {per_title:.2f} s wall; stage means (good titles): "
        + ", ".join(f"{k} {v:.2f}" for k, v in one["stage_mean_s"].items())
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "titles": n,
                    "seconds": args.seconds,
                    "runs": runs,
                    "speedup_2_vs_1": speedup,
                    "ray_vs_local2": ray_gap,
                    "per_title_s": per_title,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
