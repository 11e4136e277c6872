"""Columnar scoring (uniform, logged, best-fixed over whole columns) gives exactly the per-event numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulations.ope import replay_log
from simulations.ope.readers import ColumnMapping
from tests.replay_helpers import TablePolicy, make_world, simulate_log, smooth_pi, write_jsonl

COLUMNAR = ["logged", "uniform", "best-fixed"]


def _same(a: dict, b: dict) -> None:
    for pa_, pb in zip(a["policies"], b["policies"]):
        assert pa_["name"] == pb["name"]
        for name, ea in pa_["estimates"].items():
            eb = pb["estimates"][name]
            for key in ("value", "low", "high", "stderr"):
                assert ea[key] == pytest.approx(eb[key], rel=1e-12, abs=1e-12), (pa_["name"], name, key)
            assert ea["diagnostics"] == pytest.approx(eb["diagnostics"], rel=1e-12), (pa_["name"], name)
        assert pa_["curve"] == pb["curve"]


def test_columnar_equals_per_event_on_a_table_log(tmp_path):
    world = make_world(seed=4)
    log = simulate_log(world, 3000, "softmax", 1)
    path = write_jsonl(tmp_path / "log.jsonl", log, world)
    for mapping in (ColumnMapping(candidates_col="candidates"), ColumnMapping()):
        fast = replay_log(path, COLUMNAR, ["ips", "snips", "replay"], mapping=mapping, chunk_size=700, seed=3)
        # a per-event policy alongside forces the progressive path for all of them
        slow = replay_log(
            path,
            COLUMNAR + [TablePolicy(smooth_pi(world))],
            ["ips", "snips", "replay"],
            mapping=mapping,
            chunk_size=700,
            seed=3,
        )
        _same(fast, slow)
        ips = {p["name"]: p["estimates"]["ips"]["value"] for p in fast["policies"]}
        assert ips["logged"] == pytest.approx(log["reward"].mean())
        # best-fixed: the action with the best IPS mean, per event; independent recomputation
        best = max(range(world.k), key=lambda a: np.sum(log["reward"] * (log["action"] == a) / log["propensity"]))
        assert ips["best-fixed"] == pytest.approx(np.mean(log["reward"] * (log["action"] == best) / log["propensity"]))


def test_columnar_equals_per_event_on_a_dsjson_log_with_zero_probabilities(tmp_path):
    """A softmax-like logger whose pmf has zeros: the zero-support share must agree too."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(1500):
        pmf = [0.5, 0.5, 0.0] if i % 3 else [0.2, 0.3, 0.5]
        a = int(rng.choice(3, p=pmf))
        lines.append(
            {
                "_label_cost": -float(rng.random() < 0.3 + 0.1 * a),
                "_label_probability": pmf[a],
                "_labelIndex": a,
                "a": [a + 1] + [j + 1 for j in range(3) if j != a],
                "p": [pmf[a]] + [pmf[j] for j in range(3) if j != a],
                "c": {"U": {"s": i % 5}, "_multi": [{"id": f"x{j}"} for j in range(3)]},
            }
        )
    dsjson = tmp_path / "log.json"
    dsjson.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    fast = replay_log(dsjson, COLUMNAR, ["ips", "snips", "replay"], chunk_size=400)
    slow = replay_log(dsjson, COLUMNAR + ["vw:epsilon"], ["ips", "snips", "replay"], chunk_size=400)
    _same(fast, slow)
    zs = {p["name"]: p["estimates"]["ips"]["diagnostics"]["zero_support_share"] for p in fast["policies"]}
    assert zs["logged"] == 0.0
    assert zs["uniform"] == pytest.approx(1000 / 1500 / 3)  # 1/3 of the mass on the zero action, 2/3 of events


def test_best_fixed_with_varying_candidate_sets_by_hand(tmp_path):
    # action values are IPS means over the events where the action was a candidate
    rows = [  # candidates, action, reward, propensity
        ("a|b", "a", 1, 0.5),
        ("a|b", "b", 1, 0.5),
        ("a|c", "a", 1, 0.5),
        ("a|c", "c", 1, 0.5),
        ("a|c", "c", 1, 0.5),
        ("a|c", "a", 0, 0.5),
    ]
    # by hand: a = (2 + 0 + 2 + 0) / 6 = 2/3 (a logged with reward 1 in rows 1 and 3), b = 2/2 = 1,
    # c = (2 + 2) / 4 = 1; best of a|b is b, best of a|c is c
    path = tmp_path / "log.csv"
    path.write_text("cands,action,reward,propensity\n" + "".join(f"{c},{a},{r},{p}\n" for c, a, r, p in rows))
    mapping = ColumnMapping(candidates_col="cands")
    fast = replay_log(path, ["best-fixed"], ["ips"], mapping=mapping)
    slow = replay_log(path, ["best-fixed", "vw:epsilon"], ["ips"], mapping=mapping)
    _same(fast, slow)
    # best-fixed takes b in rows 1-2 and c in rows 3-6: IPS = (row 2: 1/0.5 + rows 4, 5: 2 + 2) / 6
    assert fast["policies"][0]["estimates"]["ips"]["value"] == pytest.approx(6 / 6)
