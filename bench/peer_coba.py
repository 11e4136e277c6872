"""Benchmark: the default policy on a peer's own benchmark, next to that peer's learners.

Why: issue 31 found the default behind LinUCB on the synthetic environments of coba, a published
contextual-bandit benchmark library (https://github.com/VowpalWabbit/coba), although the project's
own suites said level. coba's environments are held out here: nothing in artbandit was tuned on
them, and the policy runs through coba's own `Experiment` as any coba user's learner would.

    pip install -e '.[bench]'        # coba (pure Python, no dependencies of its own)
    python bench/peer_coba.py                        # the issue's run: 2 seeds x linear, neighbours
    python bench/peer_coba.py --seeds 1-16 --jobs 2  # more seeds (the verdict's noise)

What it runs: `Environments.from_linear_synthetic` and `from_neighbors_synthetic` (4,000
interactions, 5 actions drawn anew at every interaction, 5 context and 5 action features, rewards
in [0, 1] given without noise), coba's `LinUCBLearner()` and `VowpalSquarecbLearner()` with their
defaults, and artbandit's policies (`--specs`) behind a small coba `Learner` adapter. The table is
the mean reward per interaction per learner and environment class, with the mean paired difference
of each artbandit policy to the best coba learner over the seeds and its standard error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

try:
    import coba
except ImportError:  # pragma: no cover - the bench extra
    sys.exit("bench/peer_coba.py needs coba: pip install -e '.[bench]'")

from bandit import make_policy  # noqa: E402


class ArtbanditLearner(coba.Learner):
    """An artbandit policy as a coba learner: coba's dense vectors become named features (context
    namespace `x`, action features `f0..`), each action's id is its position in the round's list,
    and the event id travels from predict to learn in coba's info dict."""

    def __init__(self, spec: str = "vw:select", seed: int = 1) -> None:
        self.spec, self.seed = spec, seed
        self._policy = None
        self._t = 0

    @property
    def params(self) -> dict:
        return {"family": f"artbandit {self.spec}", "seed": self.seed}

    @staticmethod
    def _features(value, prefix: str) -> dict:
        if value is None:
            return {}
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        if isinstance(value, (int, float, str)):
            value = [value]
        return {f"{prefix}{i}": v if isinstance(v, str) else float(v) for i, v in enumerate(value)}

    def predict(self, context, actions):
        if self._policy is None:  # made in the worker process that runs it
            self._policy = make_policy(self.spec, seed=self.seed)
        self._t += 1
        d = self._policy.rank(
            {"x": self._features(context, "x")},
            [{"id": f"a{j}", "features": self._features(a, "f")} for j, a in enumerate(actions)],
            now=float(self._t),
        )
        return actions[d.index], d.probability, {"event_id": d.event_id}

    def learn(self, context, action, reward, probability, event_id=None, **info) -> None:
        self._policy.reward(event_id, min(1.0, max(0.0, float(reward))), now=float(self._t))


def seeds_of(text: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(x) for x in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2", help="environment seeds, '1,2' or '1-16' (default: the issue's 1,2)")
    ap.add_argument("--n", type=int, default=4000, help="interactions per environment")
    ap.add_argument(
        "--specs",
        default="vw:select,vw:select --no_ridge,vw:squarecb,vw:select --ridge",
        help="artbandit policies, comma-separated make_policy specs (the default's ridge member: "
        "'auto' unless --ridge (always) or --no_ridge)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="coba's processes (the same numbers with any)")
    args = ap.parse_args()
    seeds = seeds_of(args.seeds)
    envs = coba.Environments.from_linear_synthetic(args.n, seed=seeds) + coba.Environments.from_neighbors_synthetic(
        args.n, seed=seeds
    )
    peers = {"coba LinUCB": coba.LinUCBLearner(), "coba VW squarecb": coba.VowpalSquarecbLearner()}
    ours = {f"artbandit {s}": ArtbanditLearner(s) for s in args.specs.split(",")}
    names = [*peers, *ours]
    result = coba.Experiment(envs, [*peers.values(), *ours.values()]).config(processes=args.jobs).run(quiet=True)
    inter = result.interactions.to_dicts()
    envs_table = {e["environment_id"]: e for e in result.environments.to_dicts()}
    sums: dict[tuple[int, int], list[float]] = {}
    for row in inter:
        sums.setdefault((row["environment_id"], row["learner_id"]), []).append(row["reward"])
    mean = {k: float(np.mean(v)) for k, v in sums.items()}
    print(f"coba {coba.__version__}: {args.n} interactions, seeds {args.seeds}")
    print("| class | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for kind in ("LinearSynthetic", "NeighborsSynthetic"):
        ids = [i for i, e in envs_table.items() if e["env_type"] == kind]
        cells = [np.mean([mean[(i, j)] for i in ids]) for j in range(len(names))]
        print(f"| {kind} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    print()
    print("paired difference to the best coba learner per environment (points of mean reward, ± se over seeds):")
    for kind in ("LinearSynthetic", "NeighborsSynthetic", None):
        ids = [i for i, e in envs_table.items() if kind is None or e["env_type"] == kind]
        best = max(range(len(peers)), key=lambda j: np.mean([mean[(i, j)] for i in ids]))
        for j in range(len(peers), len(names)):
            d = np.array([mean[(i, j)] - mean[(i, best)] for i in ids]) * 100
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            label = kind or "both classes"
            print(f"  {label}: {names[j]} vs {names[best]}: {d.mean():+.2f} ± {se:.2f} ({len(d)} environments)")


if __name__ == "__main__":
    main()
