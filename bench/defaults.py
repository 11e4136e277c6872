"""Benchmark: do the personalizer's defaults learn as fast as the best simple peer, on environments
we did not design? Average progressive reward on the standard synthetic suite
(simulations.benchenvs), as differences to LinUCB on the same streams, and share of oracle / lift over
best fixed, per segment, on the simulator.

    python bench/defaults.py [--n 5000] [--seeds 8] [--sim-impressions 100000] [--sim-seeds 0,1,2,3] [--world-seed 0]
                             [--no-sim] [--no-suite]

Every row is measured in the same run on the same streams (common random numbers), so the paired
difference to LinUCB per seed is the honest comparison; its standard error over seeds is the noise.
Rewards are deterministic under the seeds; the seconds columns are wall clock on whatever machine
runs this (only their ratio within a run means anything).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bandit import LinUCB, Personalizer, SelectingPersonalizer, UniformPolicy  # noqa: E402
from simulations.benchenvs import SUITE, SyntheticEnv, run_policy  # noqa: E402

RICHER = dict(interactions=("cA", "ccA"), learning_rate=0.25, gamma_scale=50)
POLICIES = {
    "default (vw:select)": lambda s, **kw: SelectingPersonalizer(seed=s, **kw),
    "Personalizer (one model)": lambda s, **kw: Personalizer(seed=s, **kw),
    "first default (weighted)": lambda s, **kw: Personalizer(seed=s, importance_weighted=True, drift_boost=0,
                                                             **kw),
    "vw -l 0.25 --gamma_exponent 0.7": lambda s, **kw: Personalizer(seed=s, learning_rate=0.25,
                                                                    vw_args="--gamma_exponent 0.7", **kw),
    "vw -q ccA -l 0.25 gamma 50": lambda s, **kw: Personalizer(seed=s, **RICHER, **kw),
    "vw -q ccA -l 0.25 gamma 50 --elim": lambda s, **kw: Personalizer(seed=s, **RICHER, vw_args="--elim", **kw),
    "linucb": lambda s, **kw: LinUCB(seed=s, **kw),
    "uniform": lambda s, **kw: UniformPolicy(seed=s, **kw),
}
SIM_POLICIES = ("default (vw:select)", "Personalizer (one model)", "first default (weighted)",
                "vw -q ccA -l 0.25 gamma 50 --elim", "linucb")


def verdict(mean: float, se: float) -> str:
    """'above' / 'level' / 'below' LinUCB: beyond two standard errors of the paired difference, or not."""
    if mean > 2 * se:
        return "above"
    return "below" if mean < -2 * se else "level"


def suite_tables(n: int, seeds: int) -> None:
    names = list(POLICIES)
    rewards: dict[tuple[str, str], list[float]] = {}
    seconds = {k: 0.0 for k in names}
    oracle: dict[str, list[float]] = {}
    for spec in SUITE:
        for seed in range(seeds):
            env = SyntheticEnv(spec, seed)
            for k, make in POLICIES.items():
                t0 = time.perf_counter()
                r = run_policy(env, make(seed), n, seed=seed)
                seconds[k] += time.perf_counter() - t0
                rewards.setdefault((spec.name, k), []).append(r["reward"])
            oracle.setdefault(spec.name, []).append(r["oracle"])
        print(f"  {spec.name} done", file=sys.stderr, flush=True)

    print(f"## synthetic suite: mean expected reward over {n} rounds, {seeds} seeds (sd over seeds)\n")
    print("| environment | oracle | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for spec in SUITE:
        cells = [f"{np.mean(rewards[spec.name, k]):.4f} ± {np.std(rewards[spec.name, k]):.4f}" for k in names]
        print(f"| {spec.name} | {np.mean(oracle[spec.name]):.4f} | " + " | ".join(cells) + " |")

    print(f"\n## difference to LinUCB on the same streams, in points of reward (x100): mean ± standard error "
          f"over {seeds} seeds; above/below = beyond two standard errors\n")
    others = [k for k in names if k != "linucb"]
    print("| environment | " + " | ".join(others) + " |")
    print("|---|" + "---|" * len(others))
    allv: dict[str, list[float]] = {k: [] for k in others}
    for spec in SUITE:
        cells = []
        base = np.array(rewards[spec.name, "linucb"])
        for k in others:
            d = (np.array(rewards[spec.name, k]) - base) * 100
            allv[k] += d.tolist()
            m, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
            cells.append(f"{m:+.2f} ± {se:.2f} ({verdict(m, se)})")
        print(f"| {spec.name} | " + " | ".join(cells) + " |")
    cells = []
    for k in others:
        d = np.array(allv[k])
        cells.append(f"{d.mean():+.2f} ± {d.std(ddof=1) / np.sqrt(len(d)):.2f}")
    print("| all | " + " | ".join(cells) + " |")
    print("| seconds (whole suite) | " + " | ".join(f"{seconds[k]:.0f}" for k in others) + " |")
    print(f"\nLinUCB: {seconds['linucb']:.0f} s for the whole suite")


def sim_table(impressions: int, scenarios: list[str], seeds: list[int], world: int) -> None:
    """Each scenario's world (seed `world`) played by every policy under several policy seeds: the
    policy's own random draws move the share of oracle by about a point, so one seed says little."""
    from simulations.environment import Environment
    from simulations.metrics import baselines, policy_metrics
    from simulations.runner import run_policy as run_sim
    from simulations.scenarios import load_scenario

    print(f"\n## simulator scenarios, {impressions} impressions, world seed {world}, policy seeds "
          f"{', '.join(map(str, seeds))} (mean ± standard error over policy seeds)\n")
    for name in scenarios:
        sc = load_scenario(name)
        env = Environment(sc, seed=world)
        st = env.generate(impressions)
        rows = np.arange(impressions)
        refs = baselines(st, "click")
        orc, fix = st.click_p[rows, refs["oracle"]], st.click_p[rows, refs["best_fixed"]]
        last = rows >= impressions - impressions // 5
        segs = [(st.segment == i) & last for i in range(len(env.segment_names))]
        print(f"### {name}\n\n| policy | share of oracle | lift over best fixed | "
              + " | ".join(f"{s} (last 20%)" for s in env.segment_names) + " | seconds per run |")
        print("|---|---|---|" + "---|" * len(env.segment_names) + "---|")
        print("| best fixed | " + f"{fix.sum() / orc.sum():.4f} | 0 | "
              + " | ".join(f"{fix[sel].sum() / orc[sel].sum():.3f}" for sel in segs) + " | |")
        for label in SIM_POLICIES:
            shares, lifts, per_seg, took = [], [], [], 0.0
            for seed in seeds:
                policy = POLICIES[label](seed, reward_wait_s=sc.reward_wait_s)
                t0 = time.perf_counter()
                trace = run_sim(env, st, policy)
                took += time.perf_counter() - t0
                policy.close()
                m = policy_metrics(env, st, trace, "click", floor=sc.exposure_floor)
                mine = st.click_p[rows, trace.chosen]
                shares.append(m["share_of_oracle"])
                lifts.append(m["lift_over_best_fixed"])
                per_seg.append([mine[sel].sum() / orc[sel].sum() for sel in segs])
            se = np.std(shares, ddof=1) / np.sqrt(len(shares)) if len(shares) > 1 else 0.0
            print(f"| {label} | {np.mean(shares):.4f} ± {se:.4f} | {np.mean(lifts):+.4f} | "
                  + " | ".join(f"{v:.3f}" for v in np.mean(per_seg, axis=0))
                  + f" | {took / len(seeds):.0f} |", flush=True)
        print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--sim-impressions", type=int, default=100_000)
    ap.add_argument("--sim-seeds", default="0,1,2,3", help="policy seeds")
    ap.add_argument("--world-seed", type=int, default=0)
    ap.add_argument("--scenarios", default="segments,drift,cold-start,delayed")
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--no-suite", action="store_true")
    args = ap.parse_args()
    if not args.no_suite:
        suite_tables(args.n, args.seeds)
    if not args.no_sim:
        sim_table(args.sim_impressions, args.scenarios.split(","), [int(s) for s in args.sim_seeds.split(",")],
                  args.world_seed)


if __name__ == "__main__":
    main()
