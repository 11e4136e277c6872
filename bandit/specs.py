"""`make_policy("vw:squarecb" | "uniform" | ...)`: one string names a policy everywhere (CLI,
scenario files, simulations), so comparing policies is a list of strings."""
from __future__ import annotations

from typing import Any

from bandit.errors import BanditError
from bandit.policy import Policy

SPECS = ("vw", "vw:squarecb", "vw:epsilon", "vw:softmax", "vw:bag", "vw:cover", "uniform",
         "ts-per-title", "linucb")


def make_policy(spec: str, *, seed: int = 0, log: Any = None, **options: Any) -> Policy:
    """Build the policy named by `spec` (see SPECS); `log=` makes it log to an EventLog/SQLite path."""
    from bandit.baselines import LinUCB, ThompsonPerTitle, UniformPolicy
    from bandit.vw_policy import Personalizer

    spec = str(spec).strip()
    if spec not in SPECS:
        raise BanditError(f"unknown policy {spec!r} (choose from {', '.join(SPECS)})")
    try:
        if spec.startswith("vw"):
            exploration = spec.split(":", 1)[1] if ":" in spec else "squarecb"
            return Personalizer(exploration, seed=seed, log=log, **options)
        cls = {"uniform": UniformPolicy, "ts-per-title": ThompsonPerTitle, "linucb": LinUCB}[spec]
        return cls(seed=seed, log=log, **options)
    except TypeError as exc:  # an option this policy does not take
        raise BanditError(f"policy {spec!r}: {exc}") from None
