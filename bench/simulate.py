"""Benchmark: impressions per second of a whole simulation (environment + policy + rewards
[+ SQLite logging]) for each policy, side by side, against the 20k impressions/s target.

    python bench/simulate.py [--impressions 20000] [--scenario segments]

Rows: the environment alone (stream generation + iteration, no policy), each artbandit policy
through the Rank/Reward API, the VW policy with the SQLite event log on, and as a peer MABWiser's
LinUCB (bench extra) driven by the same environment one row at a time (predict + partial_fit).
Timings are wall-clock on a shared 2-core machine: noisy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bandit import make_policy  # noqa: E402
from simulations.online.runner import run_policy, run_simulation  # noqa: E402
from simulations.world.environment import Environment  # noqa: E402
from simulations.world.scenarios import load_scenario  # noqa: E402

TARGET = 20_000.0


class _Clock:
    """Wall and CPU time of a block: on a shared machine CPU time is the process's own cost."""

    def __enter__(self) -> "_Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _env_only(env: Environment, n: int) -> tuple[_Clock, None]:
    with _Clock() as c:
        stream = env.generate(n)
        for _ in env.iter_stream(stream):
            pass
    return c, None


def _policy(env: Environment, n: int, spec: str, log: Path | None = None) -> tuple[_Clock, float]:
    with _Clock() as c:
        stream = env.generate(n)
        policy = make_policy(spec, seed=0, log=log)
        trace = run_policy(env, stream, policy)
        policy.close()
    return c, float(stream.click_p[np.arange(n), trace.chosen].mean())


def _mabwiser(env: Environment, n: int) -> tuple[_Clock, float] | None:
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        return None
    with _Clock() as c:
        total = _mabwiser_loop(env, n, MAB, LearningPolicy)
    return c, total


def _mabwiser_loop(env: Environment, n: int, MAB, LearningPolicy) -> float:
    stream = env.generate(n)
    # numeric context a service would have: genre history + one-hot device/country
    from simulations.world.scenarios import COUNTRIES, DEVICES

    def vec(ctx: dict) -> list[float]:
        u = ctx["user"]
        return (
            [v for k, v in u.items() if k.startswith("h_")]
            + [float(u["device"] == d) for d in DEVICES]
            + [float(u["country"] == c) for c in COUNTRIES]
        )

    models: dict[int, MAB] = {}
    total = 0.0
    for imp in env.iter_stream(stream):
        arms = [a["id"] for a in imp.actions]
        x = [vec(imp.context)]
        m = models.get(imp.title * 100 + imp.k)
        if m is None:
            m = MAB(arms, LearningPolicy.LinUCB(alpha=1.0), seed=0)
            m.fit([arms[0]], [0.0], x)
            models[imp.title * 100 + imp.k] = m
        arm = m.predict(x)
        i = arms.index(arm)
        click, _ = env.outcome(imp, i)
        m.partial_fit([arm], [float(click)], x)
        total += float(imp.click_p[i])
    return total / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impressions", type=int, default=20_000)
    ap.add_argument("--scenario", default="segments")
    ap.add_argument("--peer-impressions", type=int, default=3_000, help="impressions for the (slow) MABWiser peer")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    n = args.impressions
    rows: list[tuple[str, int, _Clock | None, float | None]] = []
    rows.append(("environment only (no policy)", n, *_env_only(Environment(sc, 0), n)))
    for spec in ("vw:squarecb", "linucb", "ts-per-title", "uniform"):
        rows.append((f"artbandit {spec}", n, *_policy(Environment(sc, 0), n, spec)))
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            (
                "artbandit vw:squarecb + SQLite log",
                n,
                *_policy(Environment(sc, 0), n, "vw:squarecb", Path(tmp) / "events.sqlite"),
            )
        )
    # the whole command (run_simulation: 4 policies + the report) in one process and in two
    policies = ["vw:squarecb", "linucb", "ts-per-title", "uniform"]
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as tmp, _Clock() as c:
            run_simulation(
                sc, policies, impressions=n, seed=0, log_policy="uniform", out_dir=Path(tmp) / "o", jobs=jobs
            )
        c.cpu = c.wall  # the workers' CPU time is not this process's: per impression of all 4 policies, wall
        rows.append(
            (
                f"run_simulation, 4 policies + report, jobs={jobs} (all policies' impressions)",
                n * len(policies),
                c,
                None,
            )
        )
    peer = _mabwiser(Environment(sc, 0), args.peer_impressions)
    if peer is not None:
        rows.append(("MABWiser LinUCB (row by row, peer)", args.peer_impressions, *peer))
    else:
        rows.append(("MABWiser LinUCB (not installed: pip install -e '.[bench]')", 0, None, None))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"scenario {args.scenario}; target {TARGET:,.0f} impressions/s for the VW policy; "
        f"load average {load:.1f} on {os.cpu_count()} cores\n"
    )
    print(f"| {'run':44s} | impressions | impressions/s (wall) | per CPU-s | x target (CPU) | expected CTR |")
    print(f"|{'-' * 46}|-------------|----------------------|-----------|----------------|--------------|")
    for name, k, c, ctr in rows:
        if c is None:
            print(f"| {name:44s} | {k:11,d} | {'-':>20s} | {'-':>9s} | {'-':>14s} | {'':>12s} |")
            continue
        wall, cpu = k / c.wall, k / max(c.cpu, 1e-9)
        ctr_s = "" if ctr is None else f"{ctr:.4f}"
        print(f"| {name:44s} | {k:11,d} | {wall:20,.0f} | {cpu:9,.0f} | {cpu / TARGET:14.2f} | {ctr_s:>12s} |")
    vw = rows[1][2]
    rate = n / vw.wall
    print(
        f"\nartbandit vw:squarecb simulation: {rate:,.0f} impressions/s (wall) = {rate / TARGET:.2f}x the "
        f"{TARGET:,.0f}/s target ({'met' if rate >= TARGET else 'not met'}; raw, never rescaled)"
    )


if __name__ == "__main__":
    main()
