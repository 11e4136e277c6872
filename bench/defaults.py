"""Benchmark: do the personalizer's defaults learn as fast as the best simple peer, on environments
we did not design? Average progressive reward on the standard synthetic suite
(simulations.benchenvs) and share of oracle / lift over best fixed, per segment, on the simulator.

    python bench/defaults.py [--n 5000] [--seeds 3] [--sim-impressions 100000] [--no-sim]

Every row is measured in the same run on the same streams (common random numbers). Timings are not
the point here; the machine is shared, the numbers are deterministic under the seeds.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bandit import LinUCB, Personalizer, UniformPolicy  # noqa: E402
from simulations.benchenvs import SUITE, SyntheticEnv, run_policy  # noqa: E402

POLICIES = {
    "default": lambda s, **kw: Personalizer(seed=s, **kw),
    "default without drift hook": lambda s, **kw: Personalizer(seed=s, drift_boost=0, **kw),
    "previous default (weighted)": lambda s, **kw: Personalizer(seed=s, importance_weighted=True, drift_boost=0,
                                                                **kw),
    "vw -q ccA -l 0.25 gamma 50": lambda s, **kw: Personalizer(seed=s, interactions=("cA", "ccA"),
                                                              learning_rate=0.25, gamma_scale=50, **kw),
    "vw gamma 50": lambda s, **kw: Personalizer(seed=s, gamma_scale=50, **kw),
    "linucb": lambda s, **kw: LinUCB(seed=s, **kw),
    "uniform": lambda s, **kw: UniformPolicy(seed=s, **kw),
}


def suite_table(n: int, seeds: int) -> None:
    print(f"## synthetic suite: mean expected reward over {n} rounds, {seeds} seeds (sd over seeds)\n")
    names = list(POLICIES)
    print("| environment | oracle | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    diffs: dict[str, list[float]] = {k: [] for k in names}
    for spec in SUITE:
        vals = {k: [] for k in names}
        oracle = []
        for seed in range(seeds):
            env = SyntheticEnv(spec, seed)
            for k, make in POLICIES.items():
                r = run_policy(env, make(seed), n, seed=seed)
                vals[k].append(r["reward"])
            oracle.append(r["oracle"])
        for k in names:
            diffs[k] += list(np.array(vals[k]) - np.array(vals["linucb"]))
        cells = [f"{np.mean(vals[k]):.4f} ± {np.std(vals[k]):.4f}" for k in names]
        print(f"| {spec.name} | {np.mean(oracle):.4f} | " + " | ".join(cells) + " |", flush=True)
    print("\nmean difference to LinUCB over all environments and seeds: "
          + ", ".join(f"{k} {np.mean(v):+.4f}" for k, v in diffs.items()))


def sim_table(impressions: int, scenarios: list[str]) -> None:
    from simulations.environment import Environment
    from simulations.metrics import baselines, policy_metrics
    from simulations.runner import run_policy as run_sim
    from simulations.scenarios import load_scenario

    print(f"\n## simulator scenarios, {impressions} impressions, seed 0\n")
    for name in scenarios:
        sc = load_scenario(name)
        env = Environment(sc, seed=0)
        st = env.generate(impressions)
        rows = np.arange(impressions)
        refs = baselines(st, "click")
        orc, fix = st.click_p[rows, refs["oracle"]], st.click_p[rows, refs["best_fixed"]]
        last = rows >= impressions - impressions // 5
        print(f"### {name}\n\n| policy | share of oracle | lift over best fixed | "
              + " | ".join(f"{s} (share, last 20%)" for s in env.segment_names) + " |")
        print("|---|---|---|" + "---|" * len(env.segment_names))
        segfix = []
        for i, s in enumerate(env.segment_names):
            sel = (st.segment == i) & last
            segfix.append(f"{fix[sel].sum() / orc[sel].sum():.3f}")
        print("| best fixed | " + f"{fix.sum() / orc.sum():.4f} | 0 | " + " | ".join(segfix) + " |")
        for label in ("default", "default without drift hook", "previous default (weighted)", "linucb"):
            policy = POLICIES[label](0, reward_wait_s=sc.reward_wait_s)
            trace = run_sim(env, st, policy)
            policy.close()
            m = policy_metrics(env, st, trace, "click", floor=sc.exposure_floor)
            mine = st.click_p[rows, trace.chosen]
            cells = []
            for i, s in enumerate(env.segment_names):
                sel = (st.segment == i) & last
                cells.append(f"{mine[sel].sum() / orc[sel].sum():.3f}")
            print(f"| {label} | {m['share_of_oracle']:.4f} | {m['lift_over_best_fixed']:+.4f} | "
                  + " | ".join(cells) + " |", flush=True)
        print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sim-impressions", type=int, default=100_000)
    ap.add_argument("--scenarios", default="segments,drift,cold-start,delayed")
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--no-suite", action="store_true")
    args = ap.parse_args()
    if not args.no_suite:
        suite_table(args.n, args.seeds)
    if not args.no_sim:
        sim_table(args.sim_impressions, args.scenarios.split(","))


if __name__ == "__main__":
    main()
