"""Target policies of `evaluate` (its candidates): parse a spec string into a policy a replay can run.

Specs: `logged` (the logging policy as recorded), `baseline` (always the first action, as
Personalizer's baseline), `uniform`, `best-fixed` (per title, in hindsight), `linucb`,
`ts-per-title`, `model:DIR`, `vw` or `vw:select [--gamma_scale G]` (the default policy,
bandit.policies.personalizer), and `vw:<exploration> [VW arguments]` (the one-model Personalizer), e.g.
`vw:squarecb --gamma_scale 50 -q ccA -l 0.25`. VW arguments go through the one argument policy of
every command (bandit.policies.specs.vw_arguments): those the Personalizer has a keyword for become that
keyword (so they replace its defaults instead of clashing with them), other learning options on its
allowlist go to VW as they are, and anything else (files, ports, I/O) is refused, naming the flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulations.errors import SimulationError

# the default grid: the default policy (vw:select), the single-model Personalizer's defaults, and one
# change at a time along each axis that matters
DEFAULT_GRID: tuple[str, ...] = (
    "logged",
    "baseline",
    "uniform",
    "best-fixed",
    "linucb",
    "vw:select",  # the default: chooses between -q cA and -q cA -q ccA online (bandit.policies.personalizer)
    "vw:squarecb",
    "vw:squarecb --gamma_scale 50",
    "vw:squarecb --gamma_scale 200",
    "vw:squarecb -q cA -q ccA -l 0.25 --gamma_scale 50",  # best on non-linear rewards (docs/defaults.md)
    "vw:squarecb -l 0.1",
    "vw:squarecb -l 1",
    "vw:epsilon --cb_type ips",
    "vw:epsilon --cb_type dr",
    "vw:epsilon --cb_type mtr",
)
REFERENCE = ("logged", "best-fixed")  # estimates shown for comparison, never "the policy to ship"


class FirstActionPolicy:
    """Always the first candidate: Personalizer's baseline action (what a site shows by default)."""

    name = "baseline"

    def predict(self, context: dict, actions: list[dict]) -> np.ndarray:
        pmf = np.zeros(len(actions))
        pmf[0] = 1.0
        return pmf

    def learn(self, *args: Any, **kwargs: Any) -> None:
        return None


def vw_options(spec: str) -> dict[str, Any]:
    """Personalizer (or vw:select) keyword options for a `vw[:<exploration>] [args]` spec, through the
    one VW argument policy (bandit.policies.specs.vw_arguments): anything off its allowlist is a one-line
    SimulationError naming the flag."""
    from bandit.errors import BanditError
    from bandit.policies.specs import spec_options

    try:
        return spec_options(spec)
    except BanditError as exc:
        raise SimulationError(str(exc)) from None


def build_policy(spec: str, *, seed: int = 0, best_fixed: dict[str, float] | None = None) -> Any:
    """A ready policy (predict/learn) for `spec`; `logged` has none (its value is the log's own)."""
    from simulations.ope.progressive import BestFixedPolicy, resolve_policy

    spec = spec.strip()
    if spec == "baseline":
        return FirstActionPolicy()
    if spec == "best-fixed":
        return BestFixedPolicy(best_fixed or {})
    if spec == "vw" or spec.startswith(("vw:", "vw ")):
        from bandit import BanditError, make_policy

        vw_options(spec)  # the argument policy's one-line refusals, as SimulationError
        try:
            return make_policy(spec, seed=seed)
        except BanditError as exc:
            raise SimulationError(str(exc) if str(exc).startswith("policy ") else f"policy {spec!r}: {exc}") from None
    return resolve_policy(spec, seed=seed).policy


def check_policy(spec: str) -> None:
    """Fail fast on a spec that cannot be built (before any pass over the log)."""
    if spec.strip() in ("logged", "best-fixed", "baseline"):
        return
    policy = build_policy(spec)
    close = getattr(policy, "close", None)
    if close:
        close()
