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
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bandit import make_policy  # noqa: E402
from simulations.environment import Environment  # noqa: E402
from simulations.runner import run_policy  # noqa: E402
from simulations.scenarios import load_scenario  # noqa: E402

TARGET = 20_000.0


def _env_only(env: Environment, n: int) -> float:
    t = time.perf_counter()
    stream = env.generate(n)
    for _ in env.iter_stream(stream):
        pass
    return n / (time.perf_counter() - t)


def _policy(env: Environment, n: int, spec: str, log: Path | None = None) -> tuple[float, float]:
    t = time.perf_counter()
    stream = env.generate(n)
    policy = make_policy(spec, seed=0, log=log)
    trace = run_policy(env, stream, policy)
    policy.close()
    rate = n / (time.perf_counter() - t)
    return rate, float(stream.click_p[np.arange(n), trace.chosen].mean())


def _mabwiser(env: Environment, n: int) -> tuple[float, float] | None:
    try:
        from mabwiser.mab import MAB, LearningPolicy
    except ImportError:
        return None
    t = time.perf_counter()
    stream = env.generate(n)
    # numeric context a service would have: genre history + one-hot device/country
    from simulations.scenarios import COUNTRIES, DEVICES

    def vec(ctx: dict) -> list[float]:
        u = ctx["user"]
        return ([v for k, v in u.items() if k.startswith("h_")]
                + [float(u["device"] == d) for d in DEVICES] + [float(u["country"] == c) for c in COUNTRIES])

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
    return n / (time.perf_counter() - t), total / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impressions", type=int, default=20_000)
    ap.add_argument("--scenario", default="segments")
    ap.add_argument("--peer-impressions", type=int, default=3_000,
                    help="impressions for the (slow) MABWiser peer")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    n = args.impressions
    rows: list[tuple[str, int, float, float | None]] = []
    rows.append(("environment only (no policy)", n, _env_only(Environment(sc, 0), n), None))
    for spec in ("vw:squarecb", "linucb", "ts-per-title", "uniform"):
        rate, ctr = _policy(Environment(sc, 0), n, spec)
        rows.append((f"artbandit {spec}", n, rate, ctr))
    with tempfile.TemporaryDirectory() as tmp:
        rate, ctr = _policy(Environment(sc, 0), n, "vw:squarecb", Path(tmp) / "events.sqlite")
        rows.append(("artbandit vw:squarecb + SQLite log", n, rate, ctr))
    peer = _mabwiser(Environment(sc, 0), args.peer_impressions)
    if peer is not None:
        rows.append(("MABWiser LinUCB (row by row, peer)", args.peer_impressions, peer[0], peer[1]))
    else:
        rows.append(("MABWiser LinUCB (not installed: pip install -e '.[bench]')", 0, float("nan"), None))
    print(f"scenario {args.scenario}; target {TARGET:,.0f} impressions/s for the VW policy\n")
    print(f"| {'run':44s} | impressions | impressions/s | x target | expected CTR |")
    print(f"|{'-' * 46}|-------------|---------------|----------|--------------|")
    for name, k, rate, ctr in rows:
        c = "" if ctr is None else f"{ctr:.4f}"
        print(f"| {name:44s} | {k:11,d} | {rate:13,.0f} | {rate / TARGET:8.2f} | {c:>12s} |")


if __name__ == "__main__":
    main()
