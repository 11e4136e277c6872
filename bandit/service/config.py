"""The decision service's settings: Personalizer's service configuration and its policy arguments.

Two things live here, both checked before anything changes (a bad value never half-applies):
- `ServiceConfig`: rewardWaitTime (ISO-8601 duration), defaultReward, rewardAggregation,
  explorationPercentage, modelExportFrequency, logRetentionDays, learningMode, with Personalizer's
  limits (its JSON names and their mapping to these fields live in bandit.service.wire).
- `policy_kwargs`: VW arguments as Personalizer's `/configurations/policy` carries them, turned into
  `Personalizer` options, or, with artbandit's own `--select` flag, `vw:select` options
  (bandit.policies.personalizer: squarecb choosing its interactions online; it fixes its interactions and
  learning rates, so only `--gamma_scale` goes with it). Only learning options on the allowlist of
  bandit.policies.specs.vw_arguments (the one argument policy of every command) pass: nothing that reads or writes a
  file (-d, -f, -i, -c, --cache_file, --readable_model, ...) and nothing that changes the model's shape
  once it exists (-b), so a remote caller can tune learning but never touch the server's disk.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from bandit.errors import BanditError
from bandit.policies.specs import EXPLORATION_FLAGS, PASS_THROUGH, vw_arguments

LEARNING_MODES = ("Online", "Apprentice", "LoggingOnly")
# earliest: the first reward is final (the event learns at once); sum/average: rewards add up until
# the reward window closes. Personalizer offered earliest and average; VW's joiner also had sum.
REWARD_AGGREGATIONS = ("earliest", "average", "sum")

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?\Z"
)  # \Z: '$' also matches before a trailing newline


def parse_duration(text: Any, what: str) -> float:
    """Seconds in an ISO-8601 duration such as 'PT10M', 'P1DT2H', 'PT0.5S' (no years/months:
    their length is not fixed)."""
    if type(text) is not str:
        raise BanditError(f"{what} must be an ISO-8601 duration string like 'PT10M', got {text!r}")
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise BanditError(f"{what}: {text!r} is not an ISO-8601 duration like 'PT10M' or 'P1DT2H'")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def format_duration(seconds: float) -> str:
    """The ISO-8601 duration for a number of seconds, e.g. 600 -> 'PT10M'."""
    seconds = float(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    date = f"{int(days)}D" if days else ""
    time = (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    if secs:
        time += f"{int(secs)}S" if secs == int(secs) else f"{round(secs, 6):g}S"
    if not (date or time):
        return "PT0S"
    return "P" + date + ("T" + time if time else "")


@dataclass(frozen=True)
class ServiceConfig:
    """Service settings with Personalizer's meaning (times in seconds here, ISO-8601 on the wire)."""

    reward_wait_s: float = 600.0  # Personalizer's default: 10 minutes
    default_reward: float = 0.0
    reward_aggregation: str = "earliest"
    exploration: float = 0.0  # extra uniform mixing on top of the policy's own exploration
    model_export_s: float = 300.0
    log_retention_days: int = -1  # -1: keep forever
    learning_mode: str = "Online"

    # Limits: Personalizer's (reward wait 5 s..2 days) except that tests and simulations may ask
    # for a shorter wait and a frequent export; a server operator sets these, not end users.
    MIN_WAIT_S = 0.05
    MAX_WAIT_S = 2 * 86400.0
    MIN_EXPORT_S = 0.5

    def check(self, reward_range: tuple[float, float]) -> "ServiceConfig":
        """Raise BanditError naming the first bad field; returns self."""
        lo, hi = reward_range
        if not (self.MIN_WAIT_S <= self.reward_wait_s <= self.MAX_WAIT_S):
            raise BanditError(f"rewardWaitTime must be between {format_duration(self.MIN_WAIT_S)} and P2D")
        if not (math.isfinite(self.default_reward) and lo <= self.default_reward <= hi):
            raise BanditError(f"defaultReward must be a number in the reward range [{lo}, {hi}]")
        if self.reward_aggregation not in REWARD_AGGREGATIONS:
            raise BanditError(f"rewardAggregation must be one of {', '.join(REWARD_AGGREGATIONS)}")
        if not (0.0 <= self.exploration <= 1.0):
            raise BanditError("explorationPercentage must be a number in [0, 1]")
        if not (self.MIN_EXPORT_S <= self.model_export_s <= 7 * 86400):
            raise BanditError("modelExportFrequency must be between PT0.5S and P7D")
        if self.log_retention_days != -1 and not (1 <= self.log_retention_days <= 10_000):
            raise BanditError("logRetentionDays must be -1 (forever) or 1..10000")
        if self.learning_mode not in LEARNING_MODES:
            raise BanditError(f"learningMode must be one of {', '.join(LEARNING_MODES)}")
        return self

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ServiceConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# -- policy arguments ------------------------------------------------------------------------------
# The allowlist and its parser have one home, bandit.policies.specs (the same policy for evaluate, replay,
# simulate and scenario files); the service adds its own framing: --cb_explore_adf, a fixed -b.
_EXPLORATION_FLAGS = EXPLORATION_FLAGS
_PASS_THROUGH = PASS_THROUGH
# vw:select, the default policy (docs/defaults.md); state folders keep the arguments they were given
DEFAULT_ARGUMENTS = "--cb_explore_adf --select"


def policy_kwargs(arguments: Any, *, bits: int) -> dict[str, Any]:
    """`Personalizer(...)` keyword options for a VW argument string; BanditError naming the first
    argument that is not an allowed learning option (bandit.policies.specs.vw_arguments). `bits` is the
    model's fixed -b."""
    if type(arguments) is not str:
        raise BanditError("policy arguments must be a string of VW options")
    try:
        tokens = shlex.split(arguments)
    except ValueError as exc:
        raise BanditError(f"policy arguments: {exc}") from None
    if "--cb_explore_adf" not in tokens:
        raise BanditError("policy arguments must include --cb_explore_adf (the service ranks action lists)")
    out = vw_arguments(tokens, bits=bits)
    if out["exploration"] != "select":
        out.setdefault("interactions", ["cA"])
        out.setdefault("vw_args", "")
    return out


# Flags VW reports for a model artbandit built (get_arguments), besides the allowlist above.
_INTERNAL_FLAGS = {
    "--cb_adf",
    "--csoaa_ldf",
    "--csoaa_rank",
    "--no_stdin",
    "--quiet",
    "--bit_precision",
    "--cb_explore_adf",
    "--quadratic",
    "--interactions",
    "--random_seed",
    "--initial_regressor",
    "--no_predict",
    "--cb_min_cost",
    "--cb_max_cost",
    "--gamma_scale",
    "--lambda",
    "--learning_rate",
    "--cb_type",
    "--epsilon",
    "--first_only",
}


def check_model_flags(flags: list[str]) -> None:
    """Refuse a loaded VW model whose stored options go beyond what artbandit itself builds."""
    allowed = _INTERNAL_FLAGS | set(_EXPLORATION_FLAGS) | set(_PASS_THROUGH)
    for flag in flags:
        if flag.startswith("-") and flag not in allowed:
            raise BanditError(f"the model carries VW option {flag!r}, which artbandit never sets")
