"""`make_policy("vw" | "vw:squarecb" | "uniform" | ...)`: one string names a policy everywhere (CLI,
scenario files, simulations), so comparing policies is a list of strings.

`vw` is the default VW policy: `vw:select` (bandit.selection; why in docs/defaults.md). `vw:<exploration>`
is the single-model Personalizer with that exploration."""
from __future__ import annotations

from typing import Any

from bandit.errors import BanditError
from bandit.policy import Policy

SPECS = ("vw", "vw:squarecb", "vw:epsilon", "vw:softmax", "vw:bag", "vw:cover", "vw:select", "uniform",
         "ts-per-title", "linucb")


def make_policy(spec: str, *, seed: int = 0, log: Any = None, **options: Any) -> Policy:
    """Build the policy named by `spec` (see SPECS); `log=` makes it log to an EventLog/SQLite path."""
    from bandit.baselines import LinUCB, ThompsonPerTitle, UniformPolicy
    from bandit.vw_policy import Personalizer

    spec = str(spec).strip()
    if spec not in SPECS:
        raise BanditError(f"unknown policy {spec!r} (choose from {', '.join(SPECS)})")
    try:
        if spec in ("vw", "vw:select"):  # squarecb choosing its interactions online (bandit.selection)
            from bandit.selection import SelectingPersonalizer

            return SelectingPersonalizer(seed=seed, log=log, **options)
        if spec.startswith("vw"):
            return Personalizer(spec.split(":", 1)[1], seed=seed, log=log, **options)
        cls = {"uniform": UniformPolicy, "ts-per-title": ThompsonPerTitle, "linucb": LinUCB}[spec]
        return cls(seed=seed, log=log, **options)
    except TypeError as exc:  # an option this policy does not take
        raise BanditError(f"policy {spec!r}: {exc}") from None


def load_saved_policy(path: Any, **overrides: Any) -> Policy:
    """A saved model folder, whichever VW policy saved it (`vw:select` or the Personalizer)."""
    from bandit.model_io import read_metadata
    from bandit.selection import SPEC, SelectingPersonalizer
    from bandit.vw_policy import Personalizer

    if read_metadata(path).get("policy") == SPEC:
        return SelectingPersonalizer.load(path, **overrides)
    return Personalizer.load(path, **overrides)
