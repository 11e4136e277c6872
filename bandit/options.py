"""The options every policy shares, in one dataclass: validated once, saved with a model, and the
only policy options a model folder's metadata may set.

Run-time options (the event log, the user-id hashing secret, a seed for event ids, whether to recover
pending events) are deliberately not here: they come from the caller, never from a file.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from bandit.errors import BanditError
from bandit.lifecycle.book import AGGREGATIONS

# How long an event waits for its reward before it learns the default reward. Azure Personalizer's
# default was 10 minutes; with 0 a reward arriving a moment later on the wall clock is rejected as
# expired, so 0 is only for callers that pass their own clock (simulations, tests).
DEFAULT_REWARD_WAIT_S = 600.0
# Chosen by measurement (docs/defaults.md#exploration-per-decision); models saved before the
# budget load without it (bandit.policies.model_io.saved_options), so they continue exactly.
DEFAULT_EXPLORATION_BUDGET = 0.05
# Learned events (since the start or the last detected drift) after which the floor shrinks as
# sqrt(decay / n), never below bandit.sampling.MIN_PROPENSITY (docs/defaults.md#a-budget-that-settles).
# Models saved before it load without it, so they continue exactly.
DEFAULT_EXPLORATION_DECAY = 5000


def real(value: Any, what: str) -> float:
    """`value` as a float if it is a real number (not a bool, string or bytes), else BanditError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BanditError(f"{what} must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class PolicyOptions:
    """Probability floor and exploration budget, reward window and range, aggregation, seed,
    context allowlist."""

    min_probability: float = 0.01
    # The probability the floor may guarantee in total per decision, spread over its candidates
    # (bandit.sampling.floor_for); None: `min_probability` for every candidate, however many.
    exploration_budget: float | None = DEFAULT_EXPLORATION_BUDGET
    # Learned events after which the budget's floor settles as sqrt(decay / n) (bandit.sampling);
    # None: the floor stays where the budget puts it.
    exploration_decay: int | None = DEFAULT_EXPLORATION_DECAY
    reward_wait_s: float = DEFAULT_REWARD_WAIT_S
    default_reward: float = 0.0
    reward_range: tuple[float, float] = (0.0, 1.0)
    aggregation: str = "earliest"
    seed: int = 0
    context_allowlist: tuple[str, ...] | None = None
    remember_closed: int = 100_000

    def __post_init__(self) -> None:
        put = object.__setattr__
        try:
            lo, hi = self.reward_range
        except (TypeError, ValueError):
            raise BanditError(f"reward_range must be two numbers low < high, got {self.reward_range!r}") from None
        lo, hi = real(lo, "reward_range"), real(hi, "reward_range")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise BanditError(f"reward_range must be two finite numbers low < high, got {self.reward_range!r}")
        put(self, "reward_range", (lo, hi))
        if self.aggregation not in AGGREGATIONS:
            raise BanditError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {self.aggregation!r}")
        floor = real(self.min_probability, "min_probability")
        if not 0.0 <= floor < 1.0:
            raise BanditError(f"min_probability must be in [0, 1), got {self.min_probability!r}")
        put(self, "min_probability", floor)
        budget = self.exploration_budget
        if budget is not None:
            budget = real(budget, "exploration_budget")
            if not 0.0 < budget <= 1.0:
                raise BanditError(f"exploration_budget must be in (0, 1] or None, got {self.exploration_budget!r}")
            put(self, "exploration_budget", budget)
        decay = self.exploration_decay
        if decay is not None:
            if isinstance(decay, bool) or not isinstance(decay, numbers.Integral) or decay < 1:
                raise BanditError(f"exploration_decay must be a positive integer or None, got {decay!r}")
            put(self, "exploration_decay", int(decay))
        wait = real(self.reward_wait_s, "reward_wait_s")
        if not wait >= 0.0:
            raise BanditError(f"reward_wait_s must be >= 0, got {self.reward_wait_s!r}")
        put(self, "reward_wait_s", wait)
        default = real(self.default_reward, "default_reward")
        if not lo <= default <= hi:
            raise BanditError(f"default_reward {default} is outside the reward range [{lo}, {hi}]")
        put(self, "default_reward", default)
        for name in ("seed", "remember_closed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise BanditError(f"{name} must be an integer, got {value!r}")
            put(self, name, int(value))
        allow = self.context_allowlist
        if allow is not None:
            if isinstance(allow, (str, bytes)) or not all(isinstance(ns, str) for ns in allow):
                raise BanditError(f"context_allowlist must be a list of namespace names, got {allow!r}")
            put(self, "context_allowlist", tuple(allow))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["reward_range"] = list(self.reward_range)
        out["context_allowlist"] = None if self.context_allowlist is None else list(self.context_allowlist)
        return out
