"""Benchmark: do the personalizer's defaults learn as fast as the best simple peer, on environments
we did not design? Average progressive reward on the standard synthetic suite
(simulations.world.benchenvs), as differences to LinUCB on the same streams, and share of oracle / lift over
best fixed, per segment, on the simulator.

    python bench/defaults.py [--n 5000] [--seeds 8] [--sim-impressions 100000] [--sim-seeds 0,1,2,3] [--world-seed 0]
                             [--no-sim] [--no-suite]
    python bench/defaults.py --wide-seeds 8        # the wide suite, both halves (90 CPU-s; 6.5 min wall shared)
    python bench/defaults.py --wide-seeds 24 --wide-halves held-out --jobs 2   # more instances, held-out only
    python bench/defaults.py --fresh-seeds 16 --jobs 2   # actions new at every round, LinUCB on features
    python bench/defaults.py --floor-seeds 8 --jobs 2    # ... and what the exploration floor buys there
    python bench/defaults.py --budgets none,0.02,0.05 --budget-variants 0,18 --sim-seeds 0   # exploration budgets
    python bench/defaults.py --budgets 0.05 --decays none,5000 --sim-seeds 0,1,2,3,4,5      # a budget that settles

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
from typing import Any, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bandit import LinUCB, Personalizer, UniformPolicy, VWPolicy  # noqa: E402
from bandit.options import DEFAULT_EXPLORATION_DECAY  # noqa: E402
from simulations.world.benchenvs import SUITE, SyntheticEnv, run_policy  # noqa: E402

RICHER = dict(interactions=("cA", "ccA"), learning_rate=0.25, gamma_scale=50)
POLICIES = {
    "default (vw:select)": lambda s, **kw: Personalizer(seed=s, **kw),
    "Personalizer (one model)": lambda s, **kw: VWPolicy(seed=s, **kw),
    "first default (weighted)": lambda s, **kw: VWPolicy(seed=s, importance_weighted=True, drift_boost=0, **kw),
    "vw -l 0.25 --gamma_exponent 0.7": lambda s, **kw: VWPolicy(
        seed=s, learning_rate=0.25, vw_args="--gamma_exponent 0.7", **kw
    ),
    "vw -q ccA -l 0.25 gamma 50": lambda s, **kw: VWPolicy(seed=s, **RICHER, **kw),
    "vw -q ccA -l 0.25 gamma 50 --elim": lambda s, **kw: VWPolicy(seed=s, **RICHER, vw_args="--elim", **kw),
    "linucb": lambda s, **kw: LinUCB(seed=s, **kw),
    "uniform": lambda s, **kw: UniformPolicy(seed=s, **kw),
}
SIM_POLICIES = (
    "default (vw:select)",
    "Personalizer (one model)",
    "first default (weighted)",
    "vw -q ccA -l 0.25 gamma 50 --elim",
    "linucb",
)


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

    print(
        f"\n## difference to LinUCB on the same streams, in points of reward (x100): mean ± standard error "
        f"over {seeds} seeds; above/below = beyond two standard errors\n"
    )
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


def _world(env, impressions: int):
    """One generated stream and what every scenario table reads off it: the stream, the row index,
    the reference choices, the oracle's and best fixed's click probabilities per row, and each
    segment's last 20% of rows."""
    from simulations.online.metrics import baselines

    st = env.generate(impressions)
    rows = np.arange(impressions)
    refs = baselines(st, "click")
    orc, fix = st.click_p[rows, refs["oracle"]], st.click_p[rows, refs["best_fixed"]]
    last = rows >= impressions - impressions // 5
    segs = [(st.segment == i) & last for i in range(len(env.segment_names))]
    return st, rows, refs, orc, fix, segs


def sim_table(impressions: int, scenarios: list[str], seeds: list[int], world: int) -> None:
    """Each scenario's world (seed `world`) played by every policy under several policy seeds: the
    policy's own random draws move the share of oracle by about a point, so one seed says little."""
    from simulations.online.metrics import policy_metrics
    from simulations.online.runner import run_policy as run_sim
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    print(
        f"\n## simulator scenarios, {impressions} impressions, world seed {world}, policy seeds "
        f"{', '.join(map(str, seeds))} (mean ± standard error over policy seeds)\n"
    )
    for name in scenarios:
        sc = load_scenario(name)
        env = Environment(sc, seed=world)
        st, rows, refs, orc, fix, segs = _world(env, impressions)
        print(
            f"### {name}\n\n| policy | share of oracle | lift over best fixed | "
            + " | ".join(f"{s} (last 20%)" for s in env.segment_names)
            + " | seconds per run |"
        )
        print("|---|---|---|" + "---|" * len(env.segment_names) + "---|")
        print(
            "| best fixed | "
            + f"{fix.sum() / orc.sum():.4f} | 0 | "
            + " | ".join(f"{fix[sel].sum() / orc[sel].sum():.3f}" for sel in segs)
            + " | |"
        )
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
            print(
                f"| {label} | {np.mean(shares):.4f} ± {se:.4f} | {np.mean(lifts):+.4f} | "
                + " | ".join(f"{v:.3f}" for v in np.mean(per_seg, axis=0))
                + f" | {took / len(seeds):.0f} |",
                flush=True,
            )
        print()


WIDE_POLICIES = {
    "default (vw:select)": lambda s: Personalizer(seed=s),
    "linucb": lambda s: LinUCB(seed=s),
    # VW's own squarecb as a user would run it: -q cA, gamma 10, 1/p-weighted (mtr), no floor, no drift hook
    "VW squarecb (plain)": lambda s: VWPolicy(
        "squarecb", seed=s, importance_weighted=True, drift_boost=0, min_probability=0.0, exploration_budget=None
    ),
}
PEERS = ("linucb", "VW squarecb (plain)")


def _wide_instance(job: tuple[str, int]) -> list[tuple[tuple[str, str, int], tuple[float, float, float, float]]]:
    """Every policy on one instance of the wide suite (a process pool's unit of work)."""
    from simulations.world.benchenvs import WIDE_SUITE, WideEnv

    spec = next(sp for sp in WIDE_SUITE if sp.name == job[0])
    seed = job[1]
    env = WideEnv(spec, seed)
    out = []
    for name, make in WIDE_POLICIES.items():
        t0 = time.perf_counter()
        r = run_policy(env, make(seed), env.horizon, seed=seed)
        out.append(((spec.name, name, seed), (r["reward"], r["oracle"], r["uniform"], time.perf_counter() - t0)))
    return out


def wide_runs(seed_list: list[int], jobs: int = 1) -> dict[tuple[str, str, int], tuple[float, float, float, float]]:
    """(class, policy, seed) -> (mean expected reward, oracle, uniform, seconds) for the wide suite's
    instances `seed_list` (tuning seeds from 0, held-out from simulations.world.benchenvs.HELD_OUT), on
    `jobs` processes (the same numbers with any number: each instance is seeded on its own)."""
    from concurrent.futures import ProcessPoolExecutor

    from simulations.world.benchenvs import WIDE_SUITE

    work = [(spec.name, seed) for spec in WIDE_SUITE for seed in seed_list]
    out: dict[tuple[str, str, int], tuple[float, float, float, float]] = {}
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            for i, rows in enumerate(pool.map(_wide_instance, work)):
                out.update(rows)
                if (i + 1) % len(seed_list) == 0:
                    print(f"  {work[i][0]} done", file=sys.stderr, flush=True)
    else:
        for i, job in enumerate(work):
            out.update(_wide_instance(job))
            if (i + 1) % len(seed_list) == 0:
                print(f"  {job[0]} done", file=sys.stderr, flush=True)
    return out


def _half_table(
    specs: Sequence[Any],
    names: list[str],
    peers: Sequence[str],
    runs: dict[tuple[str, str, int], tuple[float, float, float, float]],
    seed_list: list[int],
) -> None:
    """One half's table: mean reward per class and policy (the first is the default), its paired
    difference to each peer (points, mean ± standard error over instances), and CPU seconds."""
    print(
        "| class | oracle | uniform | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"default - {p} (points)" for p in peers)
        + " |"
    )
    print("|---|---|---|" + "---|" * (len(names) + len(peers)))
    every: dict[str, list[float]] = {p: [] for p in peers}
    for spec in specs:
        get = {k: np.array([runs[spec.name, k, s][0] for s in seed_list]) for k in names}
        oracle = np.mean([runs[spec.name, names[0], s][1] for s in seed_list])
        uniform = np.mean([runs[spec.name, names[0], s][2] for s in seed_list])
        cells = []
        for p in peers:
            d = (get[names[0]] - get[p]) * 100
            every[p] += d.tolist()
            m, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
            cells.append(f"{m:+.2f} ± {se:.2f} ({verdict(m, se)})")
        print(
            f"| {spec.name} | {oracle:.4f} | {uniform:.4f} | "
            + " | ".join(f"{get[k].mean():.4f}" for k in names)
            + " | "
            + " | ".join(cells)
            + " |"
        )
    cells = []
    for p in peers:
        d = np.array(every[p])
        m, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
        cells.append(f"{m:+.2f} ± {se:.2f} ({verdict(m, se)})")
    secs = {k: sum(runs[c.name, k, s][3] for c in specs for s in seed_list) for k in names}
    print("| all | | | " + " | ".join(f"{secs[k]:.0f} s" for k in names) + " | " + " | ".join(cells) + " |")


def wide_tables(seeds: int, halves: tuple[str, ...] = ("tuning", "held-out"), jobs: int = 1) -> None:
    """The wide suite, tuning half and held-out half in separate tables: mean reward per class and
    the default's paired difference to each peer (points, mean ± standard error over instances)."""
    from simulations.world.benchenvs import HELD_OUT, WIDE_SUITE

    chosen = [
        (name, label, seed_list)
        for name, label, seed_list in (
            ("tuning", f"tuning half (seeds 0-{seeds - 1})", list(range(seeds))),
            (
                "held-out",
                f"held-out half (seeds {HELD_OUT}-{HELD_OUT + seeds - 1})",
                list(range(HELD_OUT, HELD_OUT + seeds)),
            ),
        )
        if name in halves
    ]
    runs = wide_runs([s for _, _, seed_list in chosen for s in seed_list], jobs)
    names = list(WIDE_POLICIES)
    for _, half, seed_list in chosen:
        print(
            f"\n## wide suite, {half}: mean expected reward per round over each instance's horizon "
            f"(500-4,000), {seeds} instances per class\n"
        )
        _half_table(WIDE_SUITE, names, PEERS, runs, seed_list)


class FeatureLinUCB:
    """The peer for actions known only by their features: coba's `LinUCBLearner` (Chu et al. 2011)
    as coba runs it, in numpy: one ridge regression on [1, a, a (x) x] (the action's features, and
    their products with the context's), A^-1 by Sherman-Morrison from the identity, alpha 1, the
    highest upper bound chosen (ties at random). artbandit's `LinUCB` keeps one regression per
    action id, which learns nothing that carries over to new actions. Same rank/reward calls as a
    bandit.Policy, for `run_policy`."""

    def __init__(self, seed: int, alpha: float = 1.0) -> None:
        self.alpha = alpha
        self._rng = np.random.default_rng(seed)
        self._a_inv: np.ndarray | None = None
        self._theta: np.ndarray | None = None
        self._pending: dict[str, np.ndarray] = {}
        self._events = 0

    def rank(self, context: dict, actions: list[dict], now: float = 0.0):
        from types import SimpleNamespace

        x = np.array([float(v) for ns in context.values() for v in ns.values()])
        a = np.array([[float(v) for v in action["features"].values()] for action in actions])
        k = len(actions)
        phi = np.concatenate([np.ones((k, 1)), a, (a[:, :, None] * x[None, None, :]).reshape(k, -1)], axis=1)
        if self._a_inv is None:
            self._a_inv, self._theta = np.eye(phi.shape[1]), np.zeros(phi.shape[1])
        assert self._theta is not None
        ucb = phi @ self._theta + self.alpha * np.sqrt(np.einsum("kd,de,ke->k", phi, self._a_inv, phi))
        best = np.flatnonzero(ucb == ucb.max())
        index = int(best[self._rng.integers(len(best))]) if len(best) > 1 else int(best[0])
        event_id = str(self._events)
        self._events += 1
        self._pending[event_id] = phi[index]
        return SimpleNamespace(index=index, event_id=event_id)

    def reward(self, event_id: str, value: float, now: float = 0.0) -> None:
        f = self._pending.pop(event_id)
        assert self._a_inv is not None and self._theta is not None
        w = self._a_inv @ f
        v = float(w @ f)
        r = float(self._theta @ f)
        self._a_inv = self._a_inv - np.outer(w, w) / (1 + v)
        self._theta = self._theta + (value - r) / (1 + v) * w

    def close(self) -> None:
        pass


FRESH_POLICIES = {
    "default (vw:select)": lambda s: Personalizer(seed=s),
    "default without its ridge member": lambda s: Personalizer(seed=s, ridge=None),
    "linucb (features)": lambda s: FeatureLinUCB(s),
    "VW squarecb (plain)": WIDE_POLICIES["VW squarecb (plain)"],
    "linucb (per action id)": WIDE_POLICIES["linucb"],
}
FRESH_PEERS = ("linucb (features)", "VW squarecb (plain)")


def _fresh_instance(job: tuple[str, int]) -> list[tuple[tuple[str, str, int], tuple[float, float, float, float]]]:
    """Every policy on one instance of a fresh-action class (a process pool's unit of work)."""
    from simulations.world.benchenvs import FRESH_SUITE, FreshEnv

    spec = next(sp for sp in FRESH_SUITE if sp.name == job[0])
    env = FreshEnv(spec, job[1])
    out = []
    for name, make in FRESH_POLICIES.items():
        t0 = time.perf_counter()
        r = run_policy(env, make(job[1]), env.horizon, seed=job[1])
        out.append(((spec.name, name, job[1]), (r["reward"], r["oracle"], r["uniform"], time.perf_counter() - t0)))
    return out


def fresh_tables(seeds: int, halves: tuple[str, ...] = ("tuning", "held-out"), jobs: int = 1) -> None:
    """The fresh-action classes (simulations.world.benchenvs.FRESH_SUITE), tuning and held-out halves
    apart: mean reward per class and the default's paired difference to each peer."""
    from concurrent.futures import ProcessPoolExecutor

    from simulations.world.benchenvs import FRESH_SUITE, HELD_OUT

    halves_seeds = {"tuning": list(range(seeds)), "held-out": list(range(HELD_OUT, HELD_OUT + seeds))}
    work = [(spec.name, s) for half in halves for spec in FRESH_SUITE for s in halves_seeds[half]]
    runs: dict[tuple[str, str, int], tuple[float, float, float, float]] = {}
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        for rows in pool.map(_fresh_instance, work):
            runs.update(rows)
    names = list(FRESH_POLICIES)
    for half in halves:
        seed_list = halves_seeds[half]
        print(
            f"\n## fresh actions (new at every round), {half} half (seeds {seed_list[0]}-{seed_list[-1]}): "
            f"mean expected reward per round, {seeds} instances per class\n"
        )
        _half_table(FRESH_SUITE, names, FRESH_PEERS, runs, seed_list)


FLOOR_CONFIGS = {"with the floor": {}, "without it": {"exploration_budget": None, "min_probability": 0.0}}
FLOOR_TARGETS = ("uniform", "largest f0", "softmax on the true means")


def _floor_instance(job: tuple[str, int]) -> dict[str, dict[str, tuple[float, float, float, float]]]:
    """One fresh-action instance: the default's log with and without its exploration floor, and per
    target policy (IPS estimate, SNIPS estimate, true value, largest importance weight)."""
    from simulations.world.benchenvs import FreshEnv, WideSpec

    env = FreshEnv(WideSpec("fresh", job[0]), job[1])
    n, k = env.horizon, env.n_actions
    x, mu, u = env.stream(n, job[1])
    out = {}
    for name, options in FLOOR_CONFIGS.items():
        policy = Personalizer(seed=job[1], **options)
        sums = {t: [0.0, 0.0, 0.0, 0.0] for t in FLOOR_TARGETS}
        for t in range(n):
            offers = env.offers(t)
            d = policy.rank(env.context(x[t]), offers, now=float(t))
            r = float(u[t] < mu[t, d.index])
            policy.reward(d.event_id, r, now=float(t))
            greedy = np.zeros(k)
            greedy[int(np.argmax([o["features"]["f0"] for o in offers]))] = 1.0
            soft = np.exp((mu[t] - mu[t].max()) / 0.05)
            for target, pi in zip(FLOOR_TARGETS, (np.full(k, 1.0 / k), greedy, soft / soft.sum())):
                w = pi[d.index] / d.pmf[d.index]
                s = sums[target]
                s[0], s[1], s[2], s[3] = s[0] + w * r, s[1] + w, s[2] + float(pi @ mu[t]), max(s[3], w)
        out[name] = {t: (s[0] / n, s[0] / s[1], s[2] / n, s[3]) for t, s in sums.items()}
    return out


def floor_table(seeds: int, jobs: int = 1) -> None:
    """What the exploration floor buys where actions are new at every round: how well the default's
    own log evaluates other policies (IPS, SNIPS) with and without it (`fresh/linear` and
    `fresh/few-best`, tuning seeds)."""
    from concurrent.futures import ProcessPoolExecutor

    work = [(c, s) for c in ("linear", "few-best") for s in range(seeds)]
    with ProcessPoolExecutor(max(1, jobs)) as pool:
        runs = list(pool.map(_floor_instance, work))
    print(
        f"\n## the default's logs evaluating other policies, fresh/linear and fresh/few-best, {seeds} instances "
        "each: root mean square error against the true value\n"
    )
    print("| log | target policy | IPS | SNIPS | largest importance weight |\n|---|---|---|---|---|")
    for name in FLOOR_CONFIGS:
        for target in FLOOR_TARGETS:
            got = np.array([r[name][target] for r in runs])
            ips, snips = (float(np.sqrt(np.mean((got[:, i] - got[:, 2]) ** 2))) for i in (0, 1))
            print(f"| {name} | {target} | {ips:.3f} | {snips:.3f} | {got[:, 3].max():,.0f} |")


def _budget(value: str) -> float | None:
    return None if value in ("none", "None", "per-variant") else float(value)


def budget_table(
    impressions: int,
    scenarios: list[str],
    budgets: list[float | None],
    seeds: list[int],
    world: int,
    variants: list[int],
    catalog: list[str] | None = None,
    decays: list[int | None] | None = None,
) -> None:
    """The default policy under several exploration budgets (None: today's 1% floor per variant), on
    each scenario's world with its own number of variants and with many (`variants`): share of
    oracle, the share of impressions explored, each segment's share of its oracle over the last 20%
    next to one-artwork-for-everyone's (the worst margin is the column to read), and what offline
    evaluation gets from the log: the largest importance weight logged and the effective sample
    size (ESS) for evaluating one-artwork-for-everyone from it, as a share of the impressions.
    `catalog`: variants.json folders of real artwork (the demo's, say) instead of the simulated titles.
    `decays`: `exploration_decay` values to compare for each budget (None: a floor that stays). The
    worst margin comes with its standard error over the policy seeds (the same segment in each seed)."""
    from simulations.online.metrics import policy_metrics
    from simulations.online.runner import run_policy as run_sim
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    print(
        f"\n## exploration budget: vw:select, {impressions} impressions, world seed {world}, policy seeds "
        f"{', '.join(map(str, seeds))}\n"
    )
    for name in scenarios:
        for k in variants:
            sc = load_scenario(name) if k == 0 else load_scenario(name, variants_per_title=k)
            env = Environment(sc, seed=world, variants=catalog or None)
            st, rows, refs, orc, fix, segs = _world(env, impressions)
            fixed_seg = [fix[sel].sum() / orc[sel].sum() for sel in segs]
            where = f"real catalogue {', '.join(catalog)}" if catalog else f"{sc.variants_per_title} variants per title"
            print(
                f"### {name}, {where}\n\n| budget | share of oracle "
                "| lift over best fixed | explored | "
                + " | ".join(f"{s} (last 20%)" for s in env.segment_names)
                + " | worst segment vs best fixed | max importance weight | ESS for best fixed |"
            )
            print("|---|---|---|---|" + "---|" * len(env.segment_names) + "---|---|---|")
            print(
                "| best fixed | "
                + f"{fix.sum() / orc.sum():.4f} | 0 | | "
                + " | ".join(f"{v:.3f}" for v in fixed_seg)
                + " | | | |"
            )
            for budget, decay in [(b, d) for b in budgets for d in (decays or [DEFAULT_EXPLORATION_DECAY])]:
                shares, lifts, explored, per_seg, max_w, ess = [], [], [], [], [], []
                for seed in seeds:
                    policy = Personalizer(
                        seed=seed, reward_wait_s=sc.reward_wait_s, exploration_budget=budget, exploration_decay=decay
                    )
                    probs = np.empty(impressions)
                    rank, t = policy.rank, [0]

                    def recording(*args, _rank=rank, _probs=probs, _t=t, **kwargs):
                        d = _rank(*args, **kwargs)
                        _probs[_t[0]] = d.probability
                        _t[0] += 1
                        return d

                    policy.rank = recording
                    trace = run_sim(env, st, policy)
                    policy.close()
                    m = policy_metrics(env, st, trace, "click", floor=sc.exposure_floor)
                    mine = st.click_p[rows, trace.chosen]
                    shares.append(m["share_of_oracle"])
                    lifts.append(m["lift_over_best_fixed"])
                    explored.append(float(trace.explored.mean()))
                    per_seg.append([mine[sel].sum() / orc[sel].sum() for sel in segs])
                    w = (trace.chosen == refs["best_fixed"]) / probs
                    max_w.append(float((1.0 / probs).max()))
                    ess.append(float(w.sum() ** 2 / (w**2).sum() / impressions))
                seg = np.mean(per_seg, axis=0)
                worst_i = min(range(len(seg)), key=lambda i: seg[i] - fixed_seg[i])
                margins = np.array([run[worst_i] - fixed_seg[worst_i] for run in per_seg])
                se = f" ± {margins.std(ddof=1) / np.sqrt(len(margins)):.3f}" if len(margins) > 1 else ""
                label = "per variant (1%)" if budget is None else f"{budget:g}"
                if decays:
                    label += ", fixed" if decay is None else f", settles after {decay:,}"
                print(
                    f"| {label} | {np.mean(shares):.4f} | {np.mean(lifts):+.4f} | {np.mean(explored):.3f} | "
                    + " | ".join(f"{v:.3f}" for v in seg)
                    + f" | {margins.mean():+.3f}{se} | {max(max_w):.0f} | {np.mean(ess):.3f} |",
                    flush=True,
                )
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
    ap.add_argument(
        "--budgets",
        default="",
        help="exploration budgets to compare instead of the tables, "
        "e.g. none,0.02,0.05,0.1 (none: the 1%% floor per variant)",
    )
    ap.add_argument("--budget-variants", default="0,18", help="variants per title (0: the scenario's own)")
    ap.add_argument(
        "--decays", default="", help="with --budgets: exploration_decay values to compare (none: a floor that stays)"
    )
    ap.add_argument(
        "--budget-catalog", default="", help="comma-separated variants folders (real artwork) for --budgets"
    )
    ap.add_argument(
        "--wide-seeds",
        type=int,
        default=0,
        help="run the wide suite with this many instances per class and half instead of the tables",
    )
    ap.add_argument("--wide-halves", default="tuning,held-out", help="with --wide-seeds: which halves to run")
    ap.add_argument(
        "--fresh-seeds",
        type=int,
        default=0,
        help="run the fresh-action classes (actions new at every round) with this many instances per "
        "class and half (--wide-halves) instead of the tables",
    )
    ap.add_argument(
        "--floor-seeds",
        type=int,
        default=0,
        help="how well the default's logs evaluate other policies with and without its exploration floor, "
        "on this many fresh-action instances per class, instead of the tables",
    )
    ap.add_argument("--jobs", type=int, default=1, help="with --wide-seeds: processes (the same numbers with any)")
    args = ap.parse_args()
    if args.floor_seeds:
        floor_table(args.floor_seeds, args.jobs)
        return
    if args.fresh_seeds:
        fresh_tables(args.fresh_seeds, tuple(args.wide_halves.split(",")), args.jobs)
        return
    if args.wide_seeds:
        wide_tables(args.wide_seeds, tuple(args.wide_halves.split(",")), args.jobs)
        return
    if args.budgets:
        budget_table(
            args.sim_impressions,
            args.scenarios.split(","),
            [_budget(b) for b in args.budgets.split(",")],
            [int(s) for s in args.sim_seeds.split(",")],
            args.world_seed,
            [int(k) for k in args.budget_variants.split(",")],
            [c for c in args.budget_catalog.split(",") if c],
            [None if d in ("none", "None") else int(d) for d in args.decays.split(",") if d] or None,
        )
        return
    if not args.no_suite:
        suite_tables(args.n, args.seeds)
    if not args.no_sim:
        sim_table(
            args.sim_impressions,
            args.scenarios.split(","),
            [int(s) for s in args.sim_seeds.split(",")],
            args.world_seed,
        )


if __name__ == "__main__":
    main()
