"""The decision service's settings: Personalizer's service configuration and its policy arguments.

Two things live here, both checked before anything changes (a bad value never half-applies):
- `ServiceConfig`: rewardWaitTime (ISO-8601 duration), defaultReward, rewardAggregation,
  explorationPercentage, modelExportFrequency, logRetentionDays, learningMode, with Personalizer's
  JSON names and limits.
- `policy_kwargs`: VW arguments as Personalizer's `/configurations/policy` carries them, turned into
  `Personalizer` options, or, with artbandit's own `--select` flag, `vw:select` options
  (bandit.selection: squarecb choosing its interactions online; it fixes its interactions and
  learning rates, so only `--gamma_scale` goes with it). Only learning options on an allowlist pass: nothing that reads or writes a
  file (-d, -f, -i, -c, --cache_file, --readable_model, ...) and nothing that changes the model's shape
  once it exists (-b), so a remote caller can tune learning but never touch the server's disk.
"""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

from bandit.errors import BanditError

LEARNING_MODES = ("Online", "Apprentice", "LoggingOnly")
# earliest: the first reward is final (the event learns at once); sum/average: rewards add up until
# the reward window closes. Personalizer offered earliest and average; VW's joiner also had sum.
REWARD_AGGREGATIONS = ("earliest", "average", "sum")

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?\Z")  # \Z: '$' also matches before a trailing newline


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

    reward_wait_s: float = 600.0          # Personalizer's default: 10 minutes
    default_reward: float = 0.0
    reward_aggregation: str = "earliest"
    exploration: float = 0.0              # extra uniform mixing on top of the policy's own exploration
    model_export_s: float = 300.0
    log_retention_days: int = -1          # -1: keep forever
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

    def to_wire(self) -> dict[str, Any]:
        """Personalizer's JSON for GET /configurations/service."""
        return {
            "rewardWaitTime": format_duration(self.reward_wait_s),
            "defaultReward": self.default_reward,
            "rewardAggregation": self.reward_aggregation,
            "explorationPercentage": self.exploration,
            "modelExportFrequency": format_duration(self.model_export_s),
            "logRetentionDays": self.log_retention_days,
            "learningMode": self.learning_mode,
        }

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ServiceConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def updated(self, wire: Mapping[str, Any], reward_range: tuple[float, float]) -> "ServiceConfig":
        """A copy with the fields of a PUT body applied (Personalizer's names), checked as a whole.
        Unknown fields are an error; Personalizer's read-only/informational fields are ignored."""
        if not isinstance(wire, Mapping):
            raise BanditError("the service configuration must be a JSON object")
        changes: dict[str, Any] = {}
        for key, value in wire.items():
            if key in _IGNORED_WIRE_FIELDS:
                continue
            field = _WIRE_FIELDS.get(key)
            if field is None:
                raise BanditError(f"unknown service configuration field {key!r}")
            changes[field] = _convert(key, value)
        return replace(self, **changes).check(reward_range)


_WIRE_FIELDS = {
    "rewardWaitTime": "reward_wait_s", "defaultReward": "default_reward",
    "rewardAggregation": "reward_aggregation", "explorationPercentage": "exploration",
    "modelExportFrequency": "model_export_s", "logRetentionDays": "log_retention_days",
    "learningMode": "learning_mode",
}
# Fields Personalizer's GET returns and SDKs send back unchanged; they mean nothing here.
_IGNORED_WIRE_FIELDS = frozenset({
    "logMirrorEnabled", "logMirrorSasUri", "lastConfigurationEditDate", "isAutoOptimizationEnabled",
    "autoOptimizationFrequency", "autoOptimizationStartDate",
})


def _convert(key: str, value: Any) -> Any:
    if key in ("rewardWaitTime", "modelExportFrequency"):
        return parse_duration(value, key)
    if key in ("defaultReward", "explorationPercentage"):
        if type(value) not in (int, float):
            raise BanditError(f"{key} must be a number, got {value!r}")
        return float(value)
    if key == "logRetentionDays":
        if type(value) is not int:
            raise BanditError(f"{key} must be an integer, got {value!r}")
        return value
    if type(value) is not str:
        raise BanditError(f"{key} must be a string, got {value!r}")
    return value


# -- policy arguments ------------------------------------------------------------------------------
# Flags that only tune learning or exploration; everything else is refused. Value-taking flags map
# to the number of values they take.
_EXPLORATION_FLAGS = {"--squarecb": "squarecb", "--softmax": "softmax", "--bag": "bag", "--cover": "cover",
                      "--epsilon": "epsilon", "--select": "select"}
_PASS_THROUGH = {
    "--power_t": 1, "--l1": 1, "--l2": 1, "--cb_type": 1, "--noconstant": 0, "--ignore": 1,
    "--ignore_linear": 1, "--coin": 0, "--adaptive": 0, "--normalized": 0, "--invariant": 0,
    "--sgd": 0, "--decay_learning_rate": 1, "--initial_t": 1, "--first_only": 0,
}
MAX_ENSEMBLE = 32  # --bag / --cover: each member is a whole model in memory
MAX_ABS_VALUE = 1e6  # numeric learning options (-l, --power_t, --l2, --gamma_scale ...): finite and sane
_CB_TYPES = ("ips", "dr", "mtr", "dm", "sm")
# vw:select, the default policy (docs/defaults.md); state folders keep the arguments they were given
DEFAULT_ARGUMENTS = "--cb_explore_adf --select"


def policy_kwargs(arguments: Any, *, bits: int) -> dict[str, Any]:
    """`Personalizer(...)` keyword options for a VW argument string; BanditError naming the first
    argument that is not an allowed learning option. `bits` is the model's fixed -b."""
    if type(arguments) is not str:
        raise BanditError("policy arguments must be a string of VW options")
    try:
        tokens = shlex.split(arguments)
    except ValueError as exc:
        raise BanditError(f"policy arguments: {exc}") from None
    if "--cb_explore_adf" not in tokens:
        raise BanditError("policy arguments must include --cb_explore_adf (the service ranks action lists)")
    out: dict[str, Any] = {"exploration": "squarecb", "interactions": [], "bits": bits}
    extra: list[str] = []
    explorations = []
    i = 0

    def value(kind: type) -> Any:
        nonlocal i
        if i + 1 >= len(tokens):
            raise BanditError(f"policy argument {tokens[i]} needs a value")
        i += 1
        try:
            number = kind(tokens[i])
        except ValueError:
            raise BanditError(f"policy argument {tokens[i - 1]}: {tokens[i]!r} is not a number") from None
        if isinstance(number, float) and not (math.isfinite(number) and abs(number) <= MAX_ABS_VALUE):
            raise BanditError(f"policy argument {tokens[i - 1]} must be finite and within ±{MAX_ABS_VALUE:g}")
        if isinstance(number, int) and tokens[i - 1] in ("--bag", "--cover") and not 1 <= number <= MAX_ENSEMBLE:
            raise BanditError(f"policy argument {tokens[i - 1]} must be 1..{MAX_ENSEMBLE} (each is a model in memory)")
        return number

    while i < len(tokens):
        tok = tokens[i]
        if tok == "--cb_explore_adf" or tok == "--quiet":
            pass
        elif tok in _EXPLORATION_FLAGS:
            explorations.append(_EXPLORATION_FLAGS[tok])
            if tok == "--epsilon":
                out["epsilon"] = value(float)
            elif tok in ("--bag", "--cover"):
                out[tok[2:]] = value(int)
        elif tok == "--gamma_scale":
            out["gamma_scale"] = value(float)
        elif tok == "--lambda":
            out["softmax_lambda"] = value(float)
        elif tok in ("-q", "--quadratic", "--interactions"):
            i += 1
            pair = tokens[i] if i < len(tokens) else ""
            if not (len(pair) >= 2 and pair.isalpha()):
                raise BanditError(f"policy argument -q needs namespace letters like 'cA', got {pair!r}")
            out["interactions"].append(pair)
        elif tok in ("-l", "--learning_rate"):
            out["learning_rate"] = value(float)
        elif tok in ("-b", "--bit_precision"):
            if value(int) != bits:
                raise BanditError(f"policy argument -b cannot change the model's size (it is {bits})")
        elif tok in _PASS_THROUGH:
            n = _PASS_THROUGH[tok]
            if n:
                if i + 1 >= len(tokens):
                    raise BanditError(f"policy argument {tok} needs a value")
                i += 1
                val = tokens[i]
                if tok == "--cb_type" and val not in _CB_TYPES:
                    raise BanditError(f"--cb_type must be one of {', '.join(_CB_TYPES)}")
                if tok not in ("--cb_type", "--ignore", "--ignore_linear"):
                    try:
                        number = float(val)
                    except ValueError:
                        raise BanditError(f"policy argument {tok}: {val!r} is not a number") from None
                    if not (math.isfinite(number) and abs(number) <= MAX_ABS_VALUE):
                        raise BanditError(f"policy argument {tok} must be finite and within ±{MAX_ABS_VALUE:g}")
                elif not val.isalnum():
                    raise BanditError(f"policy argument {tok}: {val!r} is not allowed")
                extra += [tok, val]
            else:
                extra.append(tok)
        else:
            raise BanditError(f"policy argument {tok!r} is not an allowed learning option "
                              "(files, model size and I/O options are refused)")
        i += 1
    if len(explorations) > 1:
        raise BanditError(f"policy arguments choose more than one exploration: {', '.join(explorations)}")
    if explorations:
        out["exploration"] = explorations[0]
    if out["exploration"] == "select":
        return _select_kwargs(out, extra)
    if not out["interactions"]:
        out["interactions"] = ["cA"]
    out["vw_args"] = " ".join(extra)
    return out


def _select_kwargs(parsed: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    """`--select`: SelectingPersonalizer options. Its models fix their own interactions and rates."""
    flags = {"interactions": "-q", "learning_rate": "-l", "softmax_lambda": "--lambda"}
    fixed = [flag for k, flag in flags.items() if k in parsed and parsed[k] != []] + extra
    if fixed:
        raise BanditError("--select chooses its own interactions and learning rates; with it only "
                          f"--gamma_scale may be given (got {fixed[0]})")
    out = {"exploration": "select", "bits": parsed["bits"]}
    if "gamma_scale" in parsed:
        out["gamma_scale"] = parsed["gamma_scale"]
    return out


# Flags VW reports for a model artbandit built (get_arguments), besides the allowlist above.
_INTERNAL_FLAGS = {"--cb_adf", "--csoaa_ldf", "--csoaa_rank", "--no_stdin", "--quiet", "--bit_precision",
                   "--cb_explore_adf", "--quadratic", "--interactions", "--random_seed", "--initial_regressor",
                   "--no_predict", "--cb_min_cost", "--cb_max_cost", "--gamma_scale", "--lambda",
                   "--learning_rate", "--cb_type", "--epsilon", "--first_only"}


def check_model_flags(flags: list[str]) -> None:
    """Refuse a loaded VW model whose stored options go beyond what artbandit itself builds."""
    allowed = _INTERNAL_FLAGS | set(_EXPLORATION_FLAGS) | set(_PASS_THROUGH)
    for flag in flags:
        if flag.startswith("-") and flag not in allowed:
            raise BanditError(f"the model carries VW option {flag!r}, which artbandit never sets")
