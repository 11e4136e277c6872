"""Candidate policies for `evaluate`: parse a spec string into a policy a replay can run.

Specs: `logged` (the logging policy as recorded), `baseline` (always the first action, as
Personalizer's baseline), `uniform`, `best-fixed` (per title, in hindsight), `linucb`,
`ts-per-title`, `model:DIR`, `vw` or `vw:select [--gamma_scale G]` (the default policy,
bandit.selection), and `vw:<exploration> [VW arguments]` (the one-model Personalizer), e.g.
`vw:squarecb --gamma_scale 50 -q ccA -l 0.25`. VW arguments the Personalizer has a keyword for
become that keyword (so they replace its defaults instead of clashing with them); any other argument
is passed to VW as is.
"""
from __future__ import annotations

import shlex
from typing import Any

import numpy as np

from simulations.errors import SimulationError

# the default grid: the default policy (vw:select), the single-model Personalizer's defaults, and one
# change at a time along each axis that matters
DEFAULT_GRID: tuple[str, ...] = (
    "logged", "baseline", "uniform", "best-fixed", "linucb",
    "vw:select",  # the default: chooses between -q cA and -q cA -q ccA online (bandit.selection)
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

_FLOAT_KEYS = {"--gamma_scale": "gamma_scale", "--epsilon": "epsilon", "-l": "learning_rate",
               "--learning_rate": "learning_rate", "--power_t": "power_t", "--lambda": "softmax_lambda"}
_INT_KEYS = {"--bag": "bag", "--cover": "cover", "-b": "bits", "--bit_precision": "bits"}
# each option's flag as a user writes it (the shortest), for messages
_FLAG_OF = {**{key: flag for flag, key in sorted({**_FLOAT_KEYS, **_INT_KEYS}.items(), key=lambda fk: -len(fk[0]))},
            "interactions": "-q", "importance_weighted": "--importance_weighted"}


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
    """Personalizer keyword arguments for a `vw:<exploration> [args]` spec."""
    head, _, rest = spec.strip().partition(" ")
    exploration = head.split(":", 1)[1] if ":" in head else "select"  # `vw`: the default, vw:select
    try:
        tokens = shlex.split(rest)
    except ValueError as exc:
        raise SimulationError(f"policy {spec!r}: {exc}") from None
    options: dict[str, Any] = {"exploration": exploration}
    interactions: list[str] = []
    extra: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if "=" in tok and tok.startswith("--"):
            tok, value = tok.split("=", 1)
            tokens[i + 1:i + 1] = [value]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok in _FLOAT_KEYS or tok in _INT_KEYS or tok in ("-q", "--interactions", "--cb_type"):
            if nxt is None:
                raise SimulationError(f"policy {spec!r}: {tok} needs a value")
            try:
                if tok in _FLOAT_KEYS:
                    options[_FLOAT_KEYS[tok]] = float(nxt)
                elif tok in _INT_KEYS:
                    options[_INT_KEYS[tok]] = int(nxt)
                elif tok == "--cb_type":
                    extra += [tok, nxt]
                else:
                    interactions.append(nxt)
            except ValueError:
                raise SimulationError(f"policy {spec!r}: {tok} needs a number, got {nxt!r}") from None
            i += 2
            continue
        if tok == "--importance_weighted":
            options["importance_weighted"] = True
        else:
            extra.append(tok)
        i += 1
    if interactions:
        options["interactions"] = tuple(interactions)
    if extra:
        options["vw_args"] = " ".join(extra)
    return options


def build_candidate(spec: str, *, seed: int = 0, best_fixed: dict[str, float] | None = None) -> Any:
    """A ready policy (predict/learn) for `spec`; `logged` has none (its value is the log's own)."""
    from simulations.ope.progressive import BestFixedPolicy, resolve_policy

    spec = spec.strip()
    if spec == "baseline":
        return FirstActionPolicy()
    if spec == "best-fixed":
        return BestFixedPolicy(best_fixed or {})
    if spec == "vw" or spec.startswith(("vw:", "vw ")):
        from bandit import BanditError, Personalizer, SelectingPersonalizer

        options = vw_options(spec)
        exploration = options.pop("exploration")
        try:
            if exploration == "select":  # vw:select: squarecb choosing its interactions (bandit.selection)
                fixed = sorted(options["vw_args"] if k == "vw_args" else _FLAG_OF[k]
                               for k in set(options) - {"gamma_scale", "bits"})
                if fixed:
                    raise SimulationError(f"policy {spec!r}: vw:select chooses its own interactions and learning "
                                          f"rates; only --gamma_scale may go with it (got {', '.join(fixed)})")
                return SelectingPersonalizer(seed=seed, **options)
            return Personalizer(exploration, seed=seed, **options)
        except (BanditError, TypeError) as exc:
            raise SimulationError(f"policy {spec!r}: {exc}") from None
    return resolve_policy(spec, seed=seed).policy


def check_candidate(spec: str) -> None:
    """Fail fast on a spec that cannot be built (before any pass over the log)."""
    if spec.strip() in ("logged", "best-fixed", "baseline"):
        return
    policy = build_candidate(spec)
    close = getattr(policy, "close", None)
    if close:
        close()
