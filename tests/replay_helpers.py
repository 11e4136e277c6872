"""Small known worlds for the replay tests: logs with exact propensities and exact policy values."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class World:
    """S user segments (uniform) x K actions with click probabilities click_p[s, a]."""

    click_p: np.ndarray

    @property
    def segments(self) -> int:
        return self.click_p.shape[0]

    @property
    def k(self) -> int:
        return self.click_p.shape[1]

    def value(self, pi: np.ndarray) -> float:
        """Exact value of a fixed policy given as pi[s, a]."""
        return float(np.mean(np.sum(pi * self.click_p, axis=1)))


def make_world(seed: int = 0, segments: int = 3, k: int = 4) -> World:
    rng = np.random.default_rng(seed)
    return World(rng.uniform(0.05, 0.6, size=(segments, k)))


def softmax(x: np.ndarray, beta: float) -> np.ndarray:
    z = np.exp(beta * (x - x.max(axis=-1, keepdims=True)))
    return z / z.sum(axis=-1, keepdims=True)


def logger_pmf(world: World, kind: str) -> np.ndarray:
    """Logging policy per segment: uniform, softmax of the true click rates, or deterministic."""
    if kind == "uniform":
        return np.full(world.click_p.shape, 1.0 / world.k)
    if kind == "softmax":
        return softmax(world.click_p, 8.0)
    if kind == "deterministic":
        pmf = np.zeros(world.click_p.shape)
        pmf[np.arange(world.segments), np.argmin(world.click_p, axis=1)] = 1.0
        return pmf
    raise ValueError(kind)


def simulate_log(world: World, n: int, logger: str, seed: int) -> dict[str, np.ndarray]:
    """segment, action, propensity, reward per event (rewards drawn from the true click rates)."""
    rng = np.random.default_rng(seed)
    mu = logger_pmf(world, logger)
    seg = rng.integers(0, world.segments, size=n)
    cum = np.cumsum(mu[seg], axis=1)
    act = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), world.k - 1)
    reward = (rng.random(n) < world.click_p[seg, act]).astype(float)
    return {"segment": seg, "action": act, "propensity": mu[seg, act], "reward": reward, "pmf": mu[seg]}


class TablePolicy:
    """A fixed target policy pi[segment, action]; reads the segment from context['user']['segment']."""

    def __init__(self, pi: np.ndarray, name: str = "table") -> None:
        self.pi = pi
        self.name = name
        self.learned = 0

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        s = int(str(context["user"]["segment"])[1:])
        order = [int(a["id"][1:]) for a in actions]
        return self.pi[s, order]

    def learn(self, *args, **kwargs) -> None:
        self.learned += 1


def greedy_pi(world: World) -> np.ndarray:
    pi = np.zeros(world.click_p.shape)
    pi[np.arange(world.segments), np.argmax(world.click_p, axis=1)] = 1.0
    return pi


def smooth_pi(world: World) -> np.ndarray:
    return softmax(world.click_p, 4.0)


def write_jsonl(path: Path, log: dict[str, np.ndarray], world: World) -> Path:
    """artbandit-like generic JSONL: context as a nested object, candidates as a list."""
    with open(path, "w") as fh:
        for i in range(len(log["action"])):
            fh.write(
                json.dumps(
                    {
                        "user": {"segment": f"s{log['segment'][i]}"},
                        "candidates": [f"a{a}" for a in range(world.k)],
                        "action": f"a{log['action'][i]}",
                        "propensity": float(log["propensity"][i]),
                        "reward": float(log["reward"][i]),
                        "t": i,
                    }
                )
                + "\n"
            )
    return path


def hashed(value: str) -> str:
    return hashlib.sha1(value.encode()).hexdigest()[:10]


def write_foreign_csv(path: Path, log: dict[str, np.ndarray], world: World, seed: int = 0) -> Path:
    """A log from 'another system': its own column names, hashed categorical user features,
    a noise numeric column, propensities in their own column, candidates not logged."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "uid_hash", "seg_hash", "u_age", "item_shown", "prob_logged", "clicked"])
        for i in range(len(log["action"])):
            w.writerow(
                [
                    1_700_000_000 + i,
                    hashed(f"user{rng.integers(1_000_000)}"),
                    hashed(f"seg{log['segment'][i]}"),
                    round(float(rng.uniform(18, 70)), 1),
                    f"art-{log['action'][i]}",
                    repr(float(log["propensity"][i])),
                    int(log["reward"][i]),
                ]
            )
    return path


class HashedSegmentPolicy(TablePolicy):
    """TablePolicy for the foreign CSV: segment comes hashed, actions are 'art-<k>'."""

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        h = context["context"]["seg_hash"]
        s = next(i for i in range(self.pi.shape[0]) if hashed(f"seg{i}") == h)
        order = [int(a["id"].split("-")[1]) for a in actions]
        return self.pi[s, order]


# ---------------------------------------------------------------- the simulator's ground truth


def feature_pmf(actions: list[dict], feature: str, beta: float) -> np.ndarray:
    """A fixed policy over artwork: softmax of beta x one image feature (beta=inf: argmax)."""
    x = np.array([float(a["features"].get(feature, 0.0)) for a in actions])
    if np.isinf(beta):
        pmf = np.zeros(len(x))
        pmf[int(np.argmax(x))] = 1.0
        return pmf
    return softmax(x, beta)


class FeaturePolicy:
    """A fixed (non-learning) target policy defined by one image feature."""

    def __init__(self, feature: str, beta: float, name: str | None = None) -> None:
        self.feature, self.beta = feature, beta
        self.name = name or f"{feature}@{beta}"

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        return feature_pmf(actions, self.feature, self.beta)

    def learn(self, *args, **kwargs) -> None:
        return None


def simulator_log(
    path: Path, *, n: int, seed: int, logger: str, targets: list[FeaturePolicy], scenario: str = "segments"
) -> dict:
    """Log n impressions of the simulator with a uniform or softmax logger (known propensities) to
    generic JSONL (+ an action-features table); return the targets' exact values on these impressions
    and the logger's realised CTR."""
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    env = Environment(load_scenario(scenario), seed=seed)
    rng = np.random.default_rng(seed + 99)
    truth = np.zeros(len(targets))
    clicks = kmax = 0
    table: dict[str, dict] = {}
    with open(path, "w") as fh:
        for imp in env.impressions(n):
            k = len(imp.actions)
            kmax = max(kmax, k)
            mu = np.full(k, 1.0 / k) if logger == "uniform" else feature_pmf(imp.actions, "warmth", 1.5)
            a = int(min(np.searchsorted(np.cumsum(mu), rng.random() * mu.sum(), side="right"), k - 1))
            click, _ = env.outcome(imp, a)
            clicks += click
            for j, t in enumerate(targets):
                truth[j] += float(t.predict(imp.context, imp.actions) @ imp.click_p)
            for act in imp.actions:
                table.setdefault(act["id"], act["features"])
            fh.write(
                json.dumps(
                    {
                        "time": imp.time_s,
                        "user": imp.context["user"],
                        "title": imp.context["title"],
                        "candidates": [act["id"] for act in imp.actions],
                        "action": imp.actions[a]["id"],
                        "propensity": float(mu[a]),
                        "reward": int(click),
                    }
                )
                + "\n"
            )
    feats = path.with_name(path.stem + "_actions.jsonl")
    with open(feats, "w") as fh:
        for aid, f in table.items():
            fh.write(json.dumps({"variant": aid, **f}) + "\n")
    return {"truth": truth / n, "ctr": clicks / n, "actions": feats, "kmax": kmax}
