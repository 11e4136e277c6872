"""Benchmark `artbandit replay`: events/s for reading each log format, for each estimator, for reading +
IPS/SNIPS end to end, and for progressive replay of a VW policy; peers measured in the same run.

Peers: pandas (read_csv / read_json(lines) in chunks + vectorised IPS), raw sqlite3 / json / pyarrow
reads (the floor under each reader), and VW's own C++ driver replaying the DSJSON export with
cb_explore_adf (progressive validation). Open Bandit Pipeline is not included: obp 0.5.x requires
Python < 3.11. Targets from the issue: >= 100k events/s for reading + IPS/SNIPS, >= 20k events/s for
progressive replay.

    python bench/replay.py [--events 100000] [--progressive-events 20000]
"""
from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bandit import EventLog, make_policy  # noqa: E402
from simulations.environment import Environment  # noqa: E402
from simulations.ope.estimators import ESTIMATORS, OPEArrays, estimate  # noqa: E402
from simulations.ope.readers import ColumnMapping, open_log  # noqa: E402
from simulations.ope.run import evaluate_log  # noqa: E402
from simulations.scenarios import load_scenario  # noqa: E402
from machine import factor_line, peer_rates, target_line  # noqa: E402  (bench/ is the script's folder)


def rate(n: int, fn) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def make_logs(folder: Path, n: int) -> dict[str, Path]:
    """A uniform-logger SQLite log of the simulator (bandit's rank/reward), its DSJSON export, and the
    same decisions as flat CSV / nested JSONL / Parquet in a generic layout."""
    env = Environment(load_scenario("segments"), seed=0)
    db = folder / "events.sqlite"
    logger = make_policy("uniform", seed=1, log=db)
    rows = []
    for imp in env.impressions(n):
        d = logger.rank(imp.context, imp.actions, now=imp.time_s)
        click = env.outcome(imp, d.index)[0]
        logger.reward(d.event_id, float(click), now=imp.time_s)
        rows.append((imp.time_s, imp.context, [a["id"] for a in imp.actions], d.action_id, d.probability, int(click)))
    logger.close()
    log = EventLog(db, readonly=True)
    log.export(folder / "events.dsjson", fmt="dsjson")
    log.close()
    user_keys = list(rows[0][1]["user"])
    with open(folder / "log.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", *user_keys, "genre", "candidates", "action", "propensity", "reward"])
        for t, ctx, cands, a, p, r in rows:
            w.writerow([t, *(ctx["user"][k] for k in user_keys), ctx["title"]["genre"], "|".join(cands), a, p, r])
    with open(folder / "log.jsonl", "w") as fh:
        for t, ctx, cands, a, p, r in rows:
            fh.write(json.dumps({"time": t, "user": ctx["user"], "title": ctx["title"], "candidates": cands,
                                 "action": a, "propensity": p, "reward": r}) + "\n")
    try:
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        pq.write_table(pcsv.read_csv(folder / "log.csv"), folder / "log.parquet")
    except ImportError:
        pass
    return {"sqlite": db, "dsjson": folder / "events.dsjson", "csv": folder / "log.csv",
            "jsonl": folder / "log.jsonl", "parquet": folder / "log.parquet"}


MAPPINGS = {
    "csv": ColumnMapping(candidates_col="candidates", timestamp_col="time"),
    "parquet": ColumnMapping(candidates_col="candidates", timestamp_col="time"),
    "jsonl": ColumnMapping(candidates_col="candidates", timestamp_col="time", context_cols=["user", "title"]),
}


def read_all(path: Path, fmt: str) -> int:
    n = 0
    for chunk in open_log(path, fmt, MAPPINGS.get(fmt)).chunks():
        n += len(chunk)
    return n


def peer_read(fmt: str, path: Path):
    """The plain library read under each reader (no event objects), or a pandas equivalent."""
    if fmt == "sqlite":
        def run():
            db = sqlite3.connect(path)
            for _ in db.execute("SELECT context, pmf, chosen_index, probability, reward FROM events"):
                pass
            db.close()
        return "sqlite3 SELECT rows", run
    if fmt == "dsjson":
        def run():
            with open(path) as fh:
                for line in fh:
                    json.loads(line)
        return "json.loads per line", run
    if fmt == "csv":
        import pandas as pd

        return "pandas read_csv chunks", lambda: [None for _ in pd.read_csv(path, chunksize=10_000)]
    if fmt == "jsonl":
        import pandas as pd

        return "pandas read_json lines", lambda: [None for _ in pd.read_json(path, lines=True, chunksize=10_000)]
    import pyarrow.parquet as pq

    return "pyarrow iter_batches", lambda: [None for _ in pq.ParquetFile(path).iter_batches(10_000)]


def pandas_ips(path: Path) -> float:
    """Peer for reading + IPS/SNIPS: pandas chunks, uniform target (1/K), vectorised sums."""
    import pandas as pd

    num = den = 0.0
    for df in pd.read_csv(path, chunksize=50_000):
        k = df["candidates"].str.count(r"\|") + 1
        w = (1.0 / k) / df["propensity"]
        num += float((w * df["reward"]).sum())
        den += float(w.sum())
    return num / den


def vw_progressive(path: Path) -> None:
    from vowpalwabbit import Workspace

    ws = Workspace(f"--dsjson -d {path} --cb_explore_adf --squarecb -q cA --quiet")
    ws.run_parser()
    ws.finish()


def peak_rss_mb_for_1m(folder: Path, n: int) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a separate process estimating IPS/SNIPS for uniform on an n-event CSV."""
    import subprocess

    rng = np.random.default_rng(0)
    k = 6
    path = folder / "big.csv"
    seg = rng.integers(0, 20, n)
    act = rng.integers(0, k, n)
    rew = (rng.random(n) < 0.1).astype(int)
    with open(path, "w") as fh:
        fh.write("segment,device,age,action,propensity,reward\n")
        dev = np.array(["tv", "mobile", "web"])[rng.integers(0, 3, n)]
        age = rng.integers(18, 80, n)
        fh.writelines(f"s{s},{d},{a},a{x},{1 / k},{r}\n" for s, d, a, x, r in zip(seg, dev, age, act, rew))
    # VmHWM (peak RSS of this process image) rather than ru_maxrss, which Linux carries over from the
    # forked parent across exec and would report the benchmark's own memory.
    code = (
        "import sys, time; sys.path.insert(0, %r); from simulations.ope.run import evaluate_log; "
        "t = time.perf_counter(); evaluate_log(%r, ['uniform'], ['ips', 'snips']); "
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
        "print(time.perf_counter() - t, hwm)" % (str(Path(__file__).resolve().parents[1]), str(path))
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, peak_kb = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), float(peak_kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--progressive-events", type=int, default=20_000)
    ap.add_argument("--array-events", type=int, default=1_000_000)
    ap.add_argument("--memory-events", type=int, default=1_000_000,
                    help="events of the CSV read + IPS/SNIPS run in a separate process for peak RSS (0: skip)")
    args = ap.parse_args()
    rows: list[tuple[str, float, str, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        logs = make_logs(folder, args.events)
        print(f"generated {args.events} simulator events in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        n = args.events
        for fmt, path in logs.items():
            if not path.is_file():
                continue
            ours = rate(n, lambda: read_all(path, fmt))
            name, fn = peer_read(fmt, path)
            rows.append((f"read {fmt}", ours, name, rate(n, fn)))

        # estimators alone, on arrays
        rng = np.random.default_rng(0)
        m = args.array_events
        data = OPEArrays(reward=(rng.random(m) < 0.1).astype(float), logged_p=np.full(m, 1 / 6),
                         target_p=rng.random(m), matched=rng.random(m) < 1 / 6, dm=rng.random(m) * 0.2,
                         q_logged=rng.random(m) * 0.2, zero_support=np.zeros(m), n_candidates=np.full(m, 6))
        for name in ESTIMATORS:
            rows.append((f"estimator {name} (arrays, asymptotic CI)", rate(m, lambda: estimate(name, data)), "-", None))
        rows.append(("estimator snips, bootstrap 200",
                     rate(m, lambda: estimate("snips", data, bootstrap=200)), "-", None))

        # end to end: read + a uniform target + IPS/SNIPS
        for fmt in ("csv", "sqlite"):
            ours = rate(n, lambda: evaluate_log(logs[fmt], ["uniform"], ["ips", "snips"], fmt=fmt,
                                                mapping=MAPPINGS.get(fmt)))
            rows.append((f"read {fmt} + uniform target + IPS/SNIPS", ours,
                         "pandas read_csv + numpy IPS" if fmt == "csv" else "-",
                         rate(n, lambda: pandas_ips(logs["csv"])) if fmt == "csv" else None))
        tracemalloc.start()
        evaluate_log(logs["csv"], ["uniform"], ["ips", "snips"], fmt="csv", mapping=MAPPINGS["csv"])
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()

        big = peak_rss_mb_for_1m(folder, args.memory_events) if args.memory_events else None

        # progressive replay of a learning VW policy, and DR with its reward model
        p = args.progressive_events
        (folder / "small").mkdir()
        small = make_logs(folder / "small", p)
        ours = rate(p, lambda: evaluate_log(small["sqlite"], ["vw:squarecb"], ["ips", "snips"]))
        rows.append((f"progressive vw:squarecb + IPS/SNIPS (sqlite, {p} ev)", ours,
                     "VW C++ driver, same events as DSJSON", rate(p, lambda: vw_progressive(small["dsjson"]))))
        rows.append((f"uniform target + DM+DR (reward model, sqlite, {p} ev)",
                     rate(p, lambda: evaluate_log(small["sqlite"], ["uniform"], ["dm", "dr"])), "-", None))

    w = max(len(r[0]) for r in rows)
    pw = max(len(r[2]) for r in rows)
    print(f"{'task'.ljust(w)}  {'artbandit ev/s':>14}  {'peer'.ljust(pw)}  {'peer ev/s':>10}  {'ratio':>6}")
    for task, ours, peer, theirs in rows:
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        theirs_s = f"{theirs:,.0f}" if theirs else "-"
        print(f"{task.ljust(w)}  {ours:>14,.0f}  {peer.ljust(pw)}  {theirs_s:>10}  {ratio:>6}")
    print(f"\npeak Python heap while reading + IPS/SNIPS over {args.events} CSV events: {peak_mb:.0f} MB "
          "(tracemalloc); ratio = artbandit / peer (> 1: artbandit faster)")
    if big:
        print(f"{args.memory_events:,} CSV events, uniform target, IPS+SNIPS in a fresh process: "
              f"{args.memory_events / big[0]:,.0f} events/s, peak RSS {big[1]:.0f} MB (whole process)")
    rates = peer_rates()
    by_task = {task: ours for task, ours, _, _ in rows}
    print("\n" + factor_line(rates))
    for fmt in ("sqlite", "csv"):
        print(target_line(f"read {fmt} + IPS/SNIPS", 100_000, by_task[f"read {fmt} + uniform target + IPS/SNIPS"], rates))
    print(target_line("progressive vw:squarecb", 20_000, by_task[f"progressive vw:squarecb + IPS/SNIPS (sqlite, {p} ev)"], rates))


if __name__ == "__main__":
    main()
