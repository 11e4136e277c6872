"""`make_policy("vw" | "vw:squarecb" | "uniform" | ...)`: one string names a policy everywhere (CLI,
scenario files, simulations), so comparing policies is a list of strings.

`vw` is the default VW policy: `vw:select` (bandit.policies.personalizer; why in docs/defaults.md). `vw:<exploration>`
is the single-model Personalizer with that exploration. A VW spec may carry VW arguments
(`vw:squarecb --gamma_scale 50 -q ccA`), checked by the one argument policy below.

The argument policy (`vw_arguments`) is the only way a user's VW arguments reach VW: the decision
service's `/configurations/policy` (bandit.service.config), `evaluate --policy`, `replay --policy`,
`simulate --policy` and scenario files all go through it. Only learning and exploration options on
the allowlist pass; anything that reads or writes a file (-d, -f, -i, -c, --cache_file,
--readable_model, ...), listens on a port (--daemon, --port), or changes I/O is refused with a
one-line BanditError naming the flag, before any VW workspace exists.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bandit.errors import BanditError

if TYPE_CHECKING:
    from bandit.policies.base import Policy

SPECS = (
    "vw",
    "vw:squarecb",
    "vw:epsilon",
    "vw:softmax",
    "vw:bag",
    "vw:cover",
    "vw:select",
    "uniform",
    "ts-per-title",
    "linucb",
)

# -- the VW argument policy -------------------------------------------------------------------------
# Flags that choose the exploration (with --bag, --cover, --epsilon taking a value).
EXPLORATION_FLAGS = {
    "--squarecb": "squarecb",
    "--softmax": "softmax",
    "--bag": "bag",
    "--cover": "cover",
    "--epsilon": "epsilon",
    "--select": "select",
}
# Learning options passed to VW as they are: flag -> number of values it takes.
PASS_THROUGH = {
    "--power_t": 1,
    "--l1": 1,
    "--l2": 1,
    "--cb_type": 1,
    "--noconstant": 0,
    "--ignore": 1,
    "--ignore_linear": 1,
    "--coin": 0,
    "--adaptive": 0,
    "--normalized": 0,
    "--invariant": 0,
    "--sgd": 0,
    "--decay_learning_rate": 1,
    "--initial_t": 1,
    "--first_only": 0,
}
# Learning options a Personalizer has a keyword for: flag -> (keyword, type). They replace its defaults.
KEYWORD_FLAGS = {
    "--gamma_scale": ("gamma_scale", float),
    "--lambda": ("softmax_lambda", float),
    "-l": ("learning_rate", float),
    "--learning_rate": ("learning_rate", float),
    "-b": ("bits", int),
    "--bit_precision": ("bits", int),
}
INTERACTION_FLAGS = ("-q", "--quadratic", "--interactions")
NO_OP_FLAGS = ("--cb_explore_adf", "--quiet")  # what artbandit sets anyway
CB_TYPES = ("ips", "dr", "mtr", "dm", "sm")
MAX_BITS = 30
MAX_ENSEMBLE = 32  # --bag / --cover: each member is a whole model in memory
# numeric learning options (-l, --power_t, --l2, --gamma_scale ...): finite and sane
MAX_ARGUMENT_VALUE = 1e6


def allowed_flags() -> tuple[str, ...]:
    """Every flag the argument policy lets through (docs and messages list these)."""
    return tuple(
        sorted(
            {
                *EXPLORATION_FLAGS,
                *PASS_THROUGH,
                *KEYWORD_FLAGS,
                *INTERACTION_FLAGS,
                *NO_OP_FLAGS,
                "--importance_weighted",
            }
        )
    )


def vw_arguments(
    arguments: str | Sequence[str], *, exploration: str | None = None, bits: int | None = None
) -> dict[str, Any]:
    """VWPolicy (or, for `select`, Personalizer) keyword options for VW arguments.

    `exploration`: the one a spec's head names (`vw:squarecb` -> "squarecb"); a flag choosing another
    is refused. `bits`: the model's fixed -b (the service's); None lets -b set it (1 to MAX_BITS).
    Anything not on the allowlist raises a one-line BanditError naming the flag, so no file, port
    or I/O option ever reaches VW."""
    if isinstance(arguments, str):
        try:
            tokens = shlex.split(arguments)
        except ValueError as exc:
            raise BanditError(f"policy arguments: {exc}") from None
    else:
        tokens = [str(t) for t in arguments]
    parsed: dict[str, Any] = {}
    interactions: list[str] = []
    extra: list[str] = []
    explorations = [exploration] if exploration else []
    i = 0

    def value(flag: str, kind: type) -> Any:
        nonlocal i
        if i + 1 >= len(tokens):
            raise BanditError(f"policy argument {flag} needs a value")
        i += 1
        try:
            number = kind(tokens[i])
        except ValueError:
            raise BanditError(
                f"policy argument {flag}: {tokens[i]!r} is not {'an integer' if kind is int else 'a number'}"
            ) from None
        if not (math.isfinite(number) and abs(number) <= MAX_ARGUMENT_VALUE):
            raise BanditError(f"policy argument {flag} must be finite and within ±{MAX_ARGUMENT_VALUE:g}")
        return number

    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and "=" in tok:  # --gamma_scale=50
            tok, val = tok.split("=", 1)
            tokens[i : i + 1] = [tok, val]
        if tok in NO_OP_FLAGS:
            pass
        elif tok in EXPLORATION_FLAGS:
            chosen = EXPLORATION_FLAGS[tok]
            if chosen not in explorations:
                explorations.append(chosen)
            if tok == "--epsilon":
                parsed["epsilon"] = value(tok, float)
                if not 0.0 <= parsed["epsilon"] <= 1.0:
                    raise BanditError("policy argument --epsilon must be between 0 and 1")
            elif tok in ("--bag", "--cover"):
                parsed[chosen] = value(tok, int)
                if not 1 <= parsed[chosen] <= MAX_ENSEMBLE:
                    raise BanditError(f"policy argument {tok} must be between 1 and {MAX_ENSEMBLE}")
        elif tok in KEYWORD_FLAGS:
            key, kind = KEYWORD_FLAGS[tok]
            number = value(tok, kind)
            if key == "bits":
                if bits is not None and number != bits:
                    raise BanditError(f"policy argument -b cannot change the model's size (it is {bits})")
                if not 1 <= number <= MAX_BITS:
                    raise BanditError(f"policy argument -b must be between 1 and {MAX_BITS}")
            parsed[key] = number
        elif tok in INTERACTION_FLAGS:
            i += 1
            pair = tokens[i] if i < len(tokens) else ""
            if not (len(pair) >= 2 and pair.isalpha()):
                raise BanditError(f"policy argument -q needs namespace letters like 'cA', got {pair!r}")
            interactions.append(pair)
        elif tok == "--importance_weighted":
            parsed["importance_weighted"] = True
        elif tok in ("--ridge", "--no_ridge"):  # vw:select's exact least-squares member: always, never
            if "ridge" in parsed and parsed["ridge"] != (tok == "--ridge"):
                raise BanditError("policy arguments --ridge and --no_ridge contradict each other")
            parsed["ridge"] = tok == "--ridge"  # without either: "auto" (bandit.policies.personalizer)
        elif tok in PASS_THROUGH:
            if PASS_THROUGH[tok]:
                if i + 1 >= len(tokens):
                    raise BanditError(f"policy argument {tok} needs a value")
                i += 1
                val = tokens[i]
                if tok == "--cb_type":
                    if val not in CB_TYPES:
                        raise BanditError(f"--cb_type must be one of {', '.join(CB_TYPES)}")
                elif tok in ("--ignore", "--ignore_linear"):
                    if not val.isalnum():
                        raise BanditError(f"policy argument {tok}: {val!r} is not allowed")
                else:
                    try:
                        number = float(val)
                    except ValueError:
                        raise BanditError(f"policy argument {tok}: {val!r} is not a number") from None
                    if not (math.isfinite(number) and abs(number) <= MAX_ARGUMENT_VALUE):
                        raise BanditError(f"policy argument {tok} must be finite and within ±{MAX_ARGUMENT_VALUE:g}")
                extra += [tok, val]
            else:
                extra.append(tok)
        else:
            raise BanditError(
                f"policy argument {tok!r} is not an allowed learning option "
                "(files, ports, model I/O and other options are refused; see docs/bandit.md)"
            )
        i += 1
    if len(explorations) > 1:
        raise BanditError(f"policy arguments choose more than one exploration: {', '.join(explorations)}")
    chosen = explorations[0] if explorations else "squarecb"
    if bits is not None:
        parsed["bits"] = bits
    if chosen == "select":
        return _select_options(parsed, interactions, extra)
    if "ridge" in parsed:
        raise BanditError("policy arguments --ridge and --no_ridge go with vw:select (--select) only")
    out: dict[str, Any] = {"exploration": chosen, **parsed}
    if interactions:
        out["interactions"] = interactions
    if extra:
        out["vw_args"] = " ".join(extra)
    return out


def _select_options(parsed: dict[str, Any], interactions: list[str], extra: list[str]) -> dict[str, Any]:
    """vw:select fixes its own interactions and learning rates: only --gamma_scale (and -b) go with it."""
    names = {"learning_rate": "-l", "softmax_lambda": "--lambda", "importance_weighted": "--importance_weighted"}
    fixed = (
        (["-q"] if interactions else [])
        + [flag for key, flag in names.items() if key in parsed]
        + [t for t in extra if t.startswith("-")]
    )
    if fixed:
        raise BanditError(
            "vw:select chooses its own interactions and learning rates; with it only "
            f"--gamma_scale, --ridge and --no_ridge may be given (got {', '.join(fixed)})"
        )
    return {"exploration": "select", **{k: parsed[k] for k in ("gamma_scale", "bits", "ridge") if k in parsed}}


def split_spec(spec: str) -> tuple[str, str]:
    """`"vw:squarecb --gamma_scale 50"` -> ("vw:squarecb", "--gamma_scale 50")."""
    head, _, rest = str(spec).strip().partition(" ")
    return head, rest.strip()


def spec_options(spec: str) -> dict[str, Any]:
    """The keyword options a VW spec with arguments stands for (`exploration` included); a one-line
    BanditError naming the spec and the refused flag otherwise."""
    head, rest = split_spec(spec)
    if head not in SPECS or not head.startswith("vw"):
        raise BanditError(f"unknown policy {spec!r} (choose from {', '.join(SPECS)}; only vw specs take arguments)")
    exploration = head.split(":", 1)[1] if ":" in head else "select"
    try:
        return vw_arguments(rest, exploration=exploration)
    except BanditError as exc:
        raise BanditError(f"policy {spec!r}: {exc}") from None


def check_spec(spec: str) -> None:
    """Refuse, before any work, a spec make_policy would refuse (an unknown name, VW arguments off
    the allowlist); builds nothing."""
    head, rest = split_spec(spec)
    if head not in SPECS or (rest and not head.startswith("vw")):
        raise BanditError(f"unknown policy {str(spec).strip()!r} (choose from {', '.join(SPECS)})")
    if rest:
        spec_options(spec)


def make_policy(spec: str, *, seed: int = 0, log: Any = None, **options: Any) -> Policy:
    """Build the policy named by `spec` (see SPECS; a vw spec may carry VW arguments, checked by
    `vw_arguments`); `log=` makes it log to an EventLog/SQLite path."""
    from bandit.policies.baselines import LinUCB, ThompsonPerTitle, UniformPolicy
    from bandit.policies.vw import VWPolicy

    spec = str(spec).strip()
    check_spec(spec)
    head, rest = split_spec(spec)
    vw_options = spec_options(spec) if rest else {}
    try:
        if head in ("vw", "vw:select"):  # squarecb choosing its interactions online (bandit.policies.personalizer)
            from bandit.policies.personalizer import Personalizer

            vw_options.pop("exploration", None)
            return Personalizer(seed=seed, log=log, **vw_options, **options)
        if head.startswith("vw"):
            exploration = vw_options.pop("exploration", head.split(":", 1)[1])
            return VWPolicy(exploration, seed=seed, log=log, **vw_options, **options)
        cls = {"uniform": UniformPolicy, "ts-per-title": ThompsonPerTitle, "linucb": LinUCB}[head]
        return cls(seed=seed, log=log, **options)
    except TypeError as exc:  # an option this policy does not take
        raise BanditError(f"policy {spec!r}: {exc}") from None


def load_saved_policy(path: Any, **overrides: Any) -> Policy:
    """A saved model folder, whichever VW policy saved it (`vw:select` or the Personalizer)."""
    from bandit.policies.model_io import read_metadata
    from bandit.policies.personalizer import SPEC, Personalizer
    from bandit.policies.vw import VWPolicy

    if read_metadata(path).get("policy") == SPEC:
        return Personalizer.load(path, **overrides)
    return VWPolicy.load(path, **overrides)
