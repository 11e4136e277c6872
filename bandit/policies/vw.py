"""The personalizer: Vowpal Wabbit `--cb_explore_adf` behind the Rank/Reward API.

One shared line carries the context (every namespace as `c_<name>`, VW index 'c'), one line per
action carries its features and id (namespace 'A'), and `-q cA` crosses them: without that user x
action interaction every viewer gets the same ranking. Rewards in `reward_range` become costs
1 - r01 in [0, 1], the range given to VW with --cb_min_cost/--cb_max_cost. VW only gives the pmf;
the action is sampled here with a seeded numpy Generator (deterministic runs) and a floor is kept
(see `apply_floor`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pylibvw  # the compiled module under vowpalwabbit.Workspace (see _pmf)
import vowpalwabbit

from bandit.choices import EXPLORATIONS
from bandit.errors import BanditError
from bandit.features import ActionEntry, context_line
from bandit.options import PolicyOptions, real
from bandit.policies.base import Policy
from bandit.policies.drift_hook import DriftHook
from bandit.policies.model_io import (
    MODEL_CHECKSUM,
    artbandit_version,
    check_model_args,
    file_sha256,
    model_args,
    read_metadata,
    save_model_dir,
    saved_options,
    verify_checksum,
    without_fixed,
)
from safeio.errors import one_line

MODEL_FILE = "model.vw"
# Not stored in VW's model file, so given again on load; learning is the same with or without it.
NO_PREDICT = "--no_predict"
SHARED_EXAMPLES = 256  # contexts whose parsed example is kept (recent rewards find theirs here)
SHARED_CHARS = 4_000_000  # ... and at most this much of their text (a parsed example costs a few times its text)
ACTION_EXAMPLES = 1024  # actions whose parsed example is kept, least recently used dropped first


def open_model_file(path: str, *args: str) -> Any:
    """A VW workspace restored from a saved model file (`-i`), with run-time `args`. The path is its
    own token: VW's argument string is split on spaces, so `-i /my models/m.vw` would open `/my`."""
    workspace = vowpalwabbit.Workspace(arg_list=["-i", str(path), *args])
    workspace.model_file = str(path)  # for bandit.policies.model_io.argument_tokens
    return workspace


class ExampleCache:
    """One workspace's parsed examples: the last SHARED_EXAMPLES contexts and the ACTION_EXAMPLES
    most recently used actions (by registry uid: an action whose features change gets a new uid).

    Why bounded by count: a parsed example holds about 32 KB whatever its text (measured: 32.5 KB per
    action id, 64 KB with vw:select's two workspaces), so keeping one per action id, as before,
    grew to gigabytes on a catalogue of 100,000 variants. A dropped example is parsed again when
    its action comes back (tens of microseconds)."""

    __slots__ = ("contexts", "actions", "context_chars")

    def __init__(self) -> None:
        self.contexts: dict[str, Any] = {}
        self.actions: dict[int, Any] = {}
        self.context_chars = 0  # length of the kept contexts' text: huge contexts are bounded by size too


def cached_examples(vw: Any, label_type: int, cache: ExampleCache, prepared: str, entries: list[ActionEntry]) -> list:
    """A decision's parsed examples for workspace `vw`, from `cache` (that workspace's: a parse
    belongs to its workspace) or parsed now. Parsing once is what makes VW fast here."""
    contexts, actions = cache.contexts, cache.actions
    context = contexts.get(prepared)
    if context is None:
        # oldest first, by count and by text length (900 KB contexts: 256 of them kept ~150 MB
        # after every event was rewarded)
        while contexts and (len(contexts) >= SHARED_EXAMPLES or cache.context_chars + len(prepared) > SHARED_CHARS):
            cache.context_chars -= len(next(iter(contexts)))
            del contexts[next(iter(contexts))]
        context = contexts[prepared] = pylibvw.example(vw, label_type, prepared)
        cache.context_chars += len(prepared)
    examples = [context]
    for entry in entries:
        example = actions.pop(entry.uid, None)  # re-inserted below: most recently used last
        if example is None:
            if len(actions) >= ACTION_EXAMPLES:
                del actions[next(iter(actions))]  # least recently used
            example = pylibvw.example(vw, label_type, entry.vw_line)
        actions[entry.uid] = example
        examples.append(example)
    return examples


def exploration_args(
    exploration: str, *, epsilon: float, softmax_lambda: float, bag: int, cover: int, gamma_scale: float
) -> str:
    """The VW flags for one exploration strategy."""
    if exploration == "squarecb":
        return f"--squarecb --gamma_scale {gamma_scale} --cb_min_cost 0 --cb_max_cost 1"
    if exploration == "epsilon":
        return f"--epsilon {epsilon}"
    if exploration == "softmax":
        return f"--softmax --lambda {softmax_lambda}"
    if exploration == "bag":
        return f"--bag {int(bag)}"
    if exploration == "cover":
        return f"--cover {int(cover)}"
    raise BanditError(f"unknown exploration {exploration!r} (choose from {', '.join(EXPLORATIONS)})")


# The learning options a Personalizer adds to PolicyOptions; with those, the only options a model
# folder's metadata.json may set (run-time options such as log or secret come from the caller).
VW_OPTIONS = (
    "exploration",
    "interactions",
    "epsilon",
    "softmax_lambda",
    "bag",
    "cover",
    "gamma_scale",
    "learning_rate",
    "power_t",
    "importance_weighted",
    "bits",
    "vw_args",
)
# Saved with a model but not fixed by it: load(path, drift_boost=0) turns the drift hook off.
DRIFT_OPTIONS = ("drift_boost", "drift_floor")
# Fixed by a saved model: load() refuses a different value.
FIXED_ON_LOAD = VW_OPTIONS + ("seed",)


class VWPolicy(DriftHook, Policy):
    """One Vowpal Wabbit `--cb_explore_adf` model (`vw:squarecb`, `vw:epsilon`, ...) that ranks, logs
    and learns from late rewards. The default policy is bandit.policies.personalizer.Personalizer.

    Shared policy options (min_probability, reward_wait_s, default_reward, reward_range, aggregation,
    seed, context_allowlist) and run-time arguments (log, secret, id_seed, recover) are those of
    `Policy`; the keywords below are VW's. A context manager: `with VWPolicy(...) as p:`."""

    def __init__(
        self,
        exploration: str = "squarecb",
        *,
        interactions: Sequence[str] = ("cA",),
        epsilon: float = 0.05,
        softmax_lambda: float = 10.0,
        bag: int = 5,
        cover: int = 4,
        gamma_scale: float = 10.0,
        learning_rate: float | None = None,
        power_t: float | None = None,
        importance_weighted: bool | None = None,
        bits: int = 18,
        vw_args: str = "",
        drift_boost: int = 3000,
        drift_floor: float = 0.05,
        _model_file: str | None = None,
        **policy_args: Any,
    ) -> None:
        super().__init__(**policy_args)
        self.exploration = exploration
        if isinstance(interactions, str) or not all(isinstance(p, str) for p in interactions):
            raise BanditError(
                f"interactions must be a list of namespace-letter strings like ['cA'], got {interactions!r}"
            )
        for pair in interactions:
            if len(pair) < 2 or not pair.isalpha():
                raise BanditError(f"interaction {pair!r} must be namespace letters like 'cA'")
        if not isinstance(vw_args, str):
            raise BanditError(f"vw_args must be a string, got {vw_args!r}")
        try:
            args = [
                "--cb_explore_adf",
                "--quiet",
                NO_PREDICT,
                f"--random_seed {int(self.seed)}",
                f"-b {int(bits)}",
                exploration_args(
                    exploration,
                    epsilon=real(epsilon, "epsilon"),
                    softmax_lambda=real(softmax_lambda, "softmax_lambda"),
                    bag=int(bag),
                    cover=int(cover),
                    gamma_scale=real(gamma_scale, "gamma_scale"),
                ),
            ]
        except (TypeError, ValueError) as exc:
            raise BanditError(f"bad VW option: {exc}") from None
        args += [f"--interactions {pair}" for pair in interactions]
        if learning_rate is not None:
            args.append(f"-l {real(learning_rate, 'learning_rate')}")
        if power_t is not None:
            args.append(f"--power_t {real(power_t, 'power_t')}")
        if importance_weighted is None:
            importance_weighted = exploration != "squarecb"
        # SquareCB's regression oracle learns the observed reward unweighted (Foster & Rakhlin 2020);
        # VW's mtr would weight it by 1/p, which on our benchmark suite cost 1-2 points of reward
        # (docs/defaults.md). That holds for the policy's own decisions (reward/expire); learning
        # from a log (`learn`: train, warm start, replay) keeps the 1/p weights, since another policy
        # chose those actions. The event log keeps the true p either way.
        self._weight_p = bool(importance_weighted)
        self._from_log = False
        if vw_args:
            args.append(vw_args)
        self.vw_args = " ".join(args)
        self.options = {
            **self.policy_options.to_json(),
            "exploration": exploration,
            "interactions": list(interactions),
            "epsilon": epsilon,
            "softmax_lambda": softmax_lambda,
            "bag": bag,
            "cover": cover,
            "gamma_scale": gamma_scale,
            "learning_rate": learning_rate,
            "power_t": power_t,
            "importance_weighted": self._weight_p,
            "bits": bits,
            "vw_args": vw_args,
            "drift_boost": drift_boost,
            "drift_floor": drift_floor,
        }
        try:
            if _model_file is not None:
                # -i restores the arguments stored in the model; learning continues exactly.
                self._vw = open_model_file(_model_file, "--quiet", NO_PREDICT)
            else:
                self._vw = vowpalwabbit.Workspace(self.vw_args)
        except Exception as exc:  # VW raises plain RuntimeError/ValueError for bad arguments/files
            raise BanditError(f"Vowpal Wabbit rejected the model or arguments: {one_line(exc)}") from None
        self._label_type = int(self._vw.get_label_type())
        self._init_drift(drift_boost, drift_floor)  # bandit.policies.drift_hook
        self._examples_cache = ExampleCache()  # parsed contexts and actions (see _examples)

    @property
    def spec(self) -> str:
        return f"vw:{self.exploration}"

    # -- the two hooks -------------------------------------------------------------------------
    _prepare_validates = True  # context_line checks every value it formats (a cache hit: checked before)

    def _prepare(self, context: dict) -> str:
        return context_line(context)

    # Why pylibvw directly, and why examples are kept: the public `Workspace.parse/predict/learn`
    # wrap every line in a Python `Example`, and parsing text costs more than VW's own predict. So
    # each action's example is parsed once and reused by every decision that offers it (VW adds the
    # shared features and interactions on the fly and leaves the example as it was), while it is
    # among the 1,024 most recently used; contexts keep their example in a small cache, and learning
    # parses only the chosen action's labelled line.
    # Examples made with `pylibvw.example` belong to Python: freed when dropped, never finished.
    # `--no_predict` skips the prediction VW would redo inside learn (the pmf is already known).
    # test_fast_path_learns_like_the_public_api checks all of it against plain text through Workspace.
    def _examples(self, prepared: str, entries: list[ActionEntry]) -> list:
        return cached_examples(self._vw, self._label_type, self._examples_cache, prepared, entries)

    def _pmf(self, prepared: str, entries: list[ActionEntry]) -> list[float]:
        examples = self._examples(prepared, entries)
        pylibvw.vw.predict_multi(self._vw, examples)
        return examples[0].get_action_scores()

    def _update(
        self, prepared: str, entries: list[ActionEntry], index: int, reward01: float, probability: float
    ) -> None:
        examples = self._examples(prepared, entries)
        # a fresh labelled copy: labels cannot be taken off a kept example (VW appends to them)
        p = probability if (self._weight_p or self._from_log) else 1.0
        examples[1 + index] = pylibvw.example(
            self._vw, self._label_type, f"0:{1.0 - reward01}:{p} {entries[index].vw_line}"
        )
        pylibvw.vw.learn_multi(self._vw, examples)
        if self._drift is not None:
            self._watch(reward01)

    def _learn_prepared(self, *args: Any, **kwargs: Any) -> None:
        self._from_log = True  # an event from a log: importance-weighted (see __init__)
        try:
            super()._learn_prepared(*args, **kwargs)
        finally:
            self._from_log = False

    # -- persistence ---------------------------------------------------------------------------
    def workspaces(self) -> list:
        """The VW workspace, as a list (a `vw:select` policy has several; model import checks each)."""
        return [self._vw]

    def save(self, path: str | os.PathLike) -> None:
        """Save model + metadata + sampling/event state to a folder, atomically. The metadata holds
        the model file's SHA-256 and VW's own record of its arguments; load() verifies both."""
        metadata = {
            "artbandit_version": artbandit_version(),
            "vowpalwabbit_version": getattr(vowpalwabbit, "__version__", "?"),
            "policy": self.spec,
            "vw_args": self.vw_args,
            "vw_model_args": model_args(self._vw),
            "options": self.options,
            "feature_schema": self.feature_schema(),
            "events_learned": self.n_learned,
            "state": self._base_state(),
            "drift": self._drift_state(),
        }

        def write(tmp: Path) -> None:
            self._vw.save(str(tmp / MODEL_FILE))
            metadata[MODEL_CHECKSUM] = file_sha256(tmp / MODEL_FILE)

        save_model_dir(path, metadata, write)

    @classmethod
    def load(cls, path: str | os.PathLike, **overrides: Any) -> "VWPolicy":
        """A model saved by `save`; continues exactly as the original would.

        The model file must match the checksum and the VW arguments recorded at save time. Only
        learning options are read from metadata.json; `overrides` set run-time arguments (log,
        secret, id_seed, recover) and the reward window options (reward_wait_s, default_reward,
        aggregation, min_probability, ...), never the learning algorithm."""
        meta = read_metadata(path)
        if meta.get("policy") == "vw:select":  # the default policy's folder: several model files
            raise BanditError(f"{path}: saved by vw:select; load it with bandit.load_saved_policy")
        model_file = Path(path) / MODEL_FILE
        if not model_file.is_file() or not str(meta.get("policy", "")).startswith("vw:"):
            raise BanditError(f"{path}: not a saved VW personalizer (no {MODEL_FILE})")
        options = saved_options(meta, path, PolicyOptions.names() + VW_OPTIONS + DRIFT_OPTIONS)
        options.setdefault("importance_weighted", True)  # models saved before the option learned weighted
        overrides = without_fixed(overrides, options, FIXED_ON_LOAD, path)
        verify_checksum(meta, model_file)
        options.update(overrides)
        policy = cls(**options, _model_file=str(model_file))
        check_model_args(policy._vw, meta, options.get("exploration"), path)
        policy.vw_args = str(meta.get("vw_args", policy.vw_args))
        try:
            policy._restore_base_state(meta["state"])
            policy._restore_drift_state(meta.get("drift"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BanditError(
                f"{path}: metadata.json has a damaged state ({type(exc).__name__}: {one_line(exc)})"
            ) from None
        return policy
