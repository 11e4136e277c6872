"""How fast this machine is next to the one the issues' speed targets were set on.

The targets (25k decisions/s, 20k impressions/s, 20k and 100k events/s) came with peer figures
measured on a reference machine; one of those peers, the naive raw-VW loop of bench/bandit.py
(f-string examples, `Workspace.predict/learn` on lists of strings), ran there at 9.7k decisions/s.
Running the same peer here, in the same run as artbandit, scales any target to this machine:
target x (naive here / 9.7k). The benches print both the raw and the scaled target.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

REFERENCE_NAIVE_VW = 9_700.0  # decisions/s of the naive raw-VW loop on the reference machine


def naive_vw_rate(decisions: int = 5_000, seed: int = 0) -> float:
    """Decisions/s (wall) of bench/bandit.py's naive raw-VW loop on this machine, now."""
    # loaded under another name: as "bandit" it would shadow the artbandit package
    spec = importlib.util.spec_from_file_location("bench_bandit", Path(__file__).with_name("bandit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    (rate, _), _, _ = module.run_naive_vw(decisions, module.make_world(seed), seed)
    return rate


def scaled_target(target: float, naive_here: float) -> float:
    """`target` as it applies to this machine (same ratio to the naive raw-VW peer)."""
    return target * naive_here / REFERENCE_NAIVE_VW


def target_line(what: str, target: float, ours: float, naive_here: float) -> str:
    """One line: artbandit against the raw target and against the target scaled to this machine."""
    scaled = scaled_target(target, naive_here)
    return (f"{what}: {ours:,.0f}/s = {ours / target:.2f}x the {target:,.0f}/s target; the naive raw-VW "
            f"peer runs {naive_here:,.0f}/s here vs {REFERENCE_NAIVE_VW:,.0f}/s where the target was set, "
            f"so the target scaled to this machine is {scaled:,.0f}/s: {ours / scaled:.2f}x of it")
