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

from bandit.errors import BanditError
from bandit.features import ActionEntry, context_line, example_text
from bandit.model_io import artbandit_version, read_metadata, save_model_dir
from bandit.policy import DEFAULT_REWARD_WAIT_S, Policy

EXPLORATIONS = ("squarecb", "epsilon", "softmax", "bag", "cover")
MODEL_FILE = "model.vw"


def exploration_args(exploration: str, *, epsilon: float, softmax_lambda: float, bag: int,
                     cover: int, gamma_scale: float) -> str:
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


class Personalizer(Policy):
    """A contextual bandit on VW cb_explore_adf that ranks, logs, and learns from late rewards."""

    def __init__(
        self,
        exploration: str = "squarecb",
        *,
        min_probability: float = 0.01,
        log: Any = None,
        reward_wait_s: float = DEFAULT_REWARD_WAIT_S,
        default_reward: float = 0.0,
        reward_range: tuple[float, float] = (0.0, 1.0),
        aggregation: str = "first",
        seed: int = 0,
        secret: str | bytes | None = None,
        context_allowlist: Sequence[str] | None = None,
        interactions: Sequence[str] = ("cA",),
        epsilon: float = 0.05,
        softmax_lambda: float = 10.0,
        bag: int = 5,
        cover: int = 4,
        gamma_scale: float = 10.0,
        learning_rate: float | None = None,
        bits: int = 18,
        vw_args: str = "",
        _model_file: str | None = None,
        **policy_options: Any,
    ) -> None:
        super().__init__(
            min_probability=min_probability, log=log, reward_wait_s=reward_wait_s,
            default_reward=default_reward, reward_range=reward_range, aggregation=aggregation,
            seed=seed, secret=secret, context_allowlist=context_allowlist, **policy_options,
        )
        self.exploration = exploration
        for pair in interactions:
            if len(pair) < 2 or not pair.isalpha():
                raise BanditError(f"interaction {pair!r} must be namespace letters like 'cA'")
        args = [
            "--cb_explore_adf", "--quiet", f"--random_seed {int(seed)}", f"-b {int(bits)}",
            exploration_args(exploration, epsilon=epsilon, softmax_lambda=softmax_lambda, bag=bag,
                             cover=cover, gamma_scale=gamma_scale),
        ]
        args += [f"--interactions {pair}" for pair in interactions]
        if learning_rate is not None:
            args.append(f"-l {float(learning_rate)}")
        if vw_args:
            args.append(vw_args)
        self.vw_args = " ".join(args)
        self.options = {
            "exploration": exploration, "min_probability": min_probability,
            "reward_wait_s": reward_wait_s, "default_reward": default_reward,
            "reward_range": list(reward_range), "aggregation": aggregation, "seed": seed,
            "context_allowlist": None if context_allowlist is None else list(context_allowlist),
            "interactions": list(interactions), "epsilon": epsilon, "softmax_lambda": softmax_lambda,
            "bag": bag, "cover": cover, "gamma_scale": gamma_scale, "learning_rate": learning_rate,
            "bits": bits, "vw_args": vw_args,
        }
        try:
            if _model_file is not None:
                # -i restores the arguments stored in the model; learning continues exactly.
                self._vw = vowpalwabbit.Workspace(f"-i {_model_file} --quiet")
            else:
                self._vw = vowpalwabbit.Workspace(self.vw_args)
        except Exception as exc:  # VW raises plain RuntimeError/ValueError for bad arguments/files
            raise BanditError(f"Vowpal Wabbit rejected the model or arguments: {exc}") from None
        self._kept: tuple[str, list[ActionEntry], list] | None = None
        self._label_type = int(self._vw.get_label_type())

    @property
    def spec(self) -> str:
        return f"vw:{self.exploration}"

    # -- the two hooks -------------------------------------------------------------------------
    def _prepare(self, context: dict) -> str:
        return context_line(context)

    # Why pylibvw directly: `Workspace.parse/predict/learn` wrap every line in a Python `Example`
    # (enum lookups, isinstance checks), which costs more than VW itself. These are the same calls
    # the wrappers make (Workspace subclasses pylibvw.vw); test_fast_path_matches_public_api checks it.
    def _pmf(self, prepared: str, entries: list[ActionEntry]) -> list[float]:
        vw = self._vw
        examples = pylibvw.vw._parse(vw, example_text(prepared, entries))
        try:
            pylibvw.vw.predict_multi(vw, examples)
            return examples[0].get_action_scores()
        finally:
            pylibvw.vw._finish_example_multi_ex(vw, examples)  # else VW keeps them: memory grows

    def _rank_pmf(self, prepared: str, entries: list[ActionEntry]) -> list[float]:
        # Keep the parsed examples of the newest decision: when its reward comes before the next
        # decision (the common case), learning reuses them instead of parsing again.
        self._release_kept()
        vw = self._vw
        examples = pylibvw.vw._parse(vw, example_text(prepared, entries))
        pylibvw.vw.predict_multi(vw, examples)
        self._kept = (prepared, entries, examples)
        return examples[0].get_action_scores()

    def _release_kept(self) -> None:
        if self._kept is not None:
            pylibvw.vw._finish_example_multi_ex(self._vw, self._kept[2])
            self._kept = None

    def _update(self, prepared: str, entries: list[ActionEntry], index: int, reward01: float,
                probability: float) -> None:
        vw = self._vw
        label = f"0:{1.0 - reward01}:{probability}"
        kept = self._kept
        if kept is not None and kept[0] is prepared and kept[1] is entries:
            self._kept = None
            examples = kept[2]
            examples[1 + index].set_label_string(vw, label, self._label_type)
        else:
            examples = pylibvw.vw._parse(vw, example_text(prepared, entries, index, label + " "))
        try:
            pylibvw.vw.learn_multi(vw, examples)
        finally:
            pylibvw.vw._finish_example_multi_ex(vw, examples)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Save model + metadata + sampling/event state to a folder, atomically."""
        metadata = {
            "artbandit_version": artbandit_version(),
            "vowpalwabbit_version": getattr(vowpalwabbit, "__version__", "?"),
            "policy": self.spec,
            "vw_args": self.vw_args,
            "options": self.options,
            "feature_schema": self.feature_schema(),
            "events_learned": self.n_learned,
            "state": self._base_state(),
        }
        save_model_dir(path, metadata, lambda tmp: self._vw.save(str(tmp / MODEL_FILE)))

    def close(self) -> None:
        """Flush the log and give VW back the examples kept for reuse."""
        self._release_kept()
        super().close()

    @classmethod
    def load(cls, path: str | os.PathLike, **overrides: Any) -> "Personalizer":
        """A model saved by `save`; continues exactly as the original would. `overrides` may set
        run-time options (log, secret, reward_wait_s, default_reward, aggregation, ...) but not
        the learning algorithm."""
        meta = read_metadata(path)
        model_file = Path(path) / MODEL_FILE
        if not model_file.is_file() or not str(meta.get("policy", "")).startswith("vw:"):
            raise BanditError(f"{path}: not a saved VW personalizer (no {MODEL_FILE})")
        options = dict(meta["options"])
        fixed = ("exploration", "interactions", "epsilon", "softmax_lambda", "bag", "cover",
                 "gamma_scale", "learning_rate", "bits", "vw_args", "seed")
        for key in fixed:
            if key in overrides and overrides[key] != options.get(key):
                raise BanditError(f"{path}: option {key!r} is fixed by the saved model")
            overrides.pop(key, None)
        options.update(overrides)
        options["reward_range"] = tuple(options["reward_range"])
        policy = cls(**options, _model_file=str(model_file))
        policy.vw_args = meta["vw_args"]
        policy._restore_base_state(meta["state"])
        return policy
