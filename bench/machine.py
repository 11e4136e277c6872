"""How fast this machine is next to the one the issues' speed targets were set on.

The targets (25k decisions/s, 20k impressions/s, 20k and 100k events/s, 1080p features well under
50 ms) were set next to peer figures measured on a reference machine: bench/bandit.py's workload (8
actions, 10 context + 10 action features, one predict + one learn per decision) and, for images, the
exhaustive Haar face scan and smartcrop.py on 1080p frames. Re-running those peers here, in the same run
as artbandit, tells how this machine compares: factor = the median over peers of (rate here / rate
there), and a target scaled to this machine = target x factor. The median of several peers (pure
Python string work, VW's public API, numpy) keeps one odd peer from setting the bar. The benches
print the raw target and the scaled one side by side.
"""
from __future__ import annotations

import importlib.util
import statistics
from pathlib import Path

# each peer's rate on the reference machine: decisions/s (names as in bench/bandit.py's table), and
# 1080p images/s for the image peers of bench/features.py (39 ms and 64-93 ms per image there)
REFERENCE = {
    "raw VW, naive f-strings": 9_700.0,
    "raw VW, templates, parse once, label reused": 27_000.0,
    "numpy LinUCB (minimal loop)": 87_000.0,
    "MABWiser LinUCB, row by row": 2_300.0,
    "full Haar scan at 640 px": 1000.0 / 39.0,
    "smartcrop.py, one crop": 1000.0 / 78.5,
}


def _bench_bandit():
    # loaded under another name: as "bandit" it would shadow the artbandit package
    spec = importlib.util.spec_from_file_location("bench_bandit", Path(__file__).with_name("bandit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def peer_rates(decisions: int = 5_000, seed: int = 0) -> dict[str, float]:
    """Decisions/s (wall) of the fast reference peers on this machine, now (MABWiser is left out:
    slow, and an optional dependency)."""
    bench = _bench_bandit()
    world = bench.make_world(seed)
    runs = {
        "raw VW, naive f-strings": bench.run_naive_vw,
        "raw VW, templates, parse once, label reused": bench.run_templates_vw,
        "numpy LinUCB (minimal loop)": bench.run_numpy_linucb,
    }
    return {name: run(decisions, world, seed)[0][0] for name, run in runs.items()}


def machine_factor(rates: dict[str, float]) -> float:
    """Median of (rate here / rate on the reference machine) over the peers in `rates`."""
    return statistics.median(rates[name] / REFERENCE[name] for name in rates if name in REFERENCE)


def factor_line(rates: dict[str, float]) -> str:
    """The peers behind the factor, each as here / reference."""
    parts = [f"{name} {rates[name]:,.0f}/s vs {REFERENCE[name]:,.0f}/s ({rates[name] / REFERENCE[name]:.2f})"
             for name in rates if name in REFERENCE]
    return f"this machine vs the reference machine: {'; '.join(parts)}; median {machine_factor(rates):.2f}"


def target_line(what: str, target: float, ours: float, rates: dict[str, float]) -> str:
    """One line: artbandit against the raw target and against the target scaled to this machine."""
    scaled = target * machine_factor(rates)
    return (f"{what}: {ours:,.0f}/s = {ours / target:.2f}x the {target:,.0f}/s target; scaled to this "
            f"machine (x{machine_factor(rates):.2f}) the target is {scaled:,.0f}/s: {ours / scaled:.2f}x of it")
