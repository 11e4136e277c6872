"""`vw:select`: squarecb over several VW regressions, one per interaction set, chosen online.

Why: no single set of interactions is best everywhere (docs/defaults.md). `-q cA` (context x action)
learns fastest when rewards are linear in the features and is what the project's scenarios want;
third-order terms (`-q ccA`) win where rewards are non-linear in a few dense features, and lose
elsewhere. SquareCB's regret is bounded by its regression oracle's online squared error (Foster &
Rakhlin 2020), and exponential weights with eta = 2 over several regressions track the best one's
squared error to within log(m)/2 in total (square loss on [0, 1] is mixable). So each interaction
set gets its own VW `--cb_adf` regression, every reward trains all of them, each is scored on the
rewards before it learns them, and squarecb acts on the weighted mixture of their predicted costs.

It is the default policy (`make_policy("vw")`; docs/defaults.md has the measurements). What it costs:
every decision predicts with every model and every reward trains all of them (with the defaults, one `-q
cA` and one `-q cA -q ccA` model: about 3x the one-model Personalizer's time per event with the
simulator's 11 context features, 2.5x on the 5-feature synthetic suite). What it keeps: the Policy
contract (the probability floor, every decision logged with the probability it was sampled with, late
rewards, recovery), the Personalizer's drift hook (bandit.drift_hook); saving and loading continue
exactly. The decision service runs it from the policy arguments `--cb_explore_adf --select`
(bandit.service_config).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pylibvw
import vowpalwabbit

from bandit.drift_hook import DriftHook
from bandit.errors import BanditError, one_line
from bandit.features import ActionEntry, context_line
from bandit.model_io import (artbandit_version, file_sha256, model_args, read_metadata, save_model_dir,
                             saved_options, without_fixed)
from bandit.options import PolicyOptions, real
from bandit.policy import Policy
from bandit.vw_policy import ExampleCache, cached_examples, open_model_file

SPEC = "vw:select"
DEFAULT_MODELS: tuple[tuple[tuple[str, ...], float | None], ...] = ((("cA",), None), (("cA", "ccA"), 0.25))
SELECT_OPTIONS = ("models", "eta", "gamma_scale", "gamma_exponent", "bits")
DRIFT_OPTIONS = ("drift_boost", "drift_floor")
NEGLIGIBLE = 1e-12  # a mixture weight below this: the model is not asked at decision time  # saved, but load(path, drift_boost=0) may turn it off


def _check_models(models: Any) -> tuple[tuple[tuple[str, ...], float | None], ...]:
    """[(interactions, learning rate or None), ...]: at least one, interactions as namespace letters."""
    try:
        out = []
        for interactions, rate in models:
            if isinstance(interactions, str) or not interactions:
                raise TypeError
            for pair in interactions:
                if not isinstance(pair, str) or len(pair) < 2 or not pair.isalpha():
                    raise TypeError
            out.append((tuple(interactions), None if rate is None else real(rate, "learning rate")))
    except (TypeError, ValueError):
        raise BanditError(f"models must be [(interactions like ['cA'], learning rate or None), ...], got {models!r}") from None
    if not out:
        raise BanditError("models must name at least one interaction set")
    return tuple(out)


class SelectingPersonalizer(DriftHook, Policy):
    """squarecb on a mixture of VW regressions (one per interaction set), weighted online by their
    squared error, with the Personalizer's drift hook. Policy options (min_probability,
    reward_wait_s, log, ...) are those of `Policy`."""

    name = SPEC

    def __init__(self, *, models: Sequence = DEFAULT_MODELS, eta: float = 2.0, gamma_scale: float = 50.0,
                 gamma_exponent: float = 0.5, bits: int = 18, drift_boost: int = 3000, drift_floor: float = 0.05,
                 _model_files: Sequence[str] | None = None, **policy_args: Any) -> None:
        super().__init__(**policy_args)
        self.models = _check_models(models)
        self.eta = real(eta, "eta")
        self.gamma_scale = real(gamma_scale, "gamma_scale")
        self.gamma_exponent = real(gamma_exponent, "gamma_exponent")
        if not (self.eta > 0 and self.gamma_scale > 0 and self.gamma_exponent >= 0):
            raise BanditError("eta and gamma_scale must be > 0 and gamma_exponent >= 0")
        self.bits = int(bits)
        self._vws = []
        try:
            for i, (interactions, rate) in enumerate(self.models):
                learning = ["-l", str(rate)] if rate is not None else []
                if _model_files is not None:  # -i restores the interactions; the rate is given again
                    self._vws.append(open_model_file(_model_files[i], "--quiet", *learning))
                    continue
                args = (f"--cb_adf --quiet --random_seed {int(self.seed)} -b {self.bits} "
                        + " ".join(f"--interactions {q}" for q in interactions))
                self._vws.append(vowpalwabbit.Workspace(arg_list=args.split() + learning))
        except Exception as exc:  # VW raises plain RuntimeError/ValueError for bad arguments/files
            raise BanditError(f"Vowpal Wabbit rejected the model or arguments: {one_line(exc)}") from None
        self._label_type = int(self._vws[0].get_label_type())
        # what VW was given, per model, for people reading /model/properties or a status page
        self.vw_args = " ; ".join(model_args(vw) for vw in self._vws)
        self.loss = np.zeros(len(self._vws))  # each model's squared error on rewards before it learned them
        self._caches = [ExampleCache() for _ in self._vws]  # parsed examples, one cache per model
        self._from_log = False
        self._init_drift(drift_boost, drift_floor)  # bandit.drift_hook, as the Personalizer's
        self.options = {
            **self.policy_options.to_json(),
            "models": [[list(i), r] for i, r in self.models], "eta": self.eta, "gamma_scale": self.gamma_scale,
            "gamma_exponent": self.gamma_exponent, "bits": self.bits, "drift_boost": self.drift_boost,
            "drift_floor": self.drift_floor,
        }

    @property
    def spec(self) -> str:
        return SPEC

    def workspaces(self) -> list:
        """Every VW workspace (model import checks each one's stored options)."""
        return list(self._vws)

    def weights(self) -> np.ndarray:
        """Each model's share of the mixture now: exp(-eta x its squared error so far), normalised."""
        w = np.exp(-self.eta * (self.loss - self.loss.min()))
        return w / w.sum()

    # -- the two hooks -------------------------------------------------------------------------
    _prepare_validates = True  # context_line checks every value it formats

    def _prepare(self, context: dict) -> str:
        return context_line(context)

    def _mixed_costs(self, prepared: str, entries: list[ActionEntry]) -> np.ndarray:
        """The mixture's predicted cost of each action (each model's clipped to [0, 1]). A model whose
        weight is below NEGLIGIBLE is not asked: its share of any cost is below that, and once the
        mixture has chosen (on the simulator the `-q cA` model's weight is 1 - 1e-136 after 30,000
        rewards) that skips the costlier model's prediction at every decision. It still learns and
        is scored at every reward, so its weight comes back if it starts predicting better."""
        weights = self.weights()
        costs = np.zeros(len(entries))
        for i, vw in enumerate(self._vws):
            if weights[i] < NEGLIGIBLE:
                continue
            examples = cached_examples(vw, self._label_type, self._caches[i], prepared, entries)
            pylibvw.vw.predict_multi(vw, examples)
            costs += weights[i] * np.clip(np.array(examples[0].get_action_scores(), dtype=float), 0.0, 1.0)
        return costs

    def _pmf(self, prepared: str, entries: list[ActionEntry]) -> np.ndarray:
        costs = self._mixed_costs(prepared, entries)
        gamma = self.gamma_scale * (self.n_learned + 1) ** self.gamma_exponent
        best = int(np.argmin(costs))
        pmf = 1.0 / (len(entries) + gamma * (costs - costs[best]))  # squarecb (Foster & Rakhlin 2020)
        pmf[best] = 0.0
        pmf[best] = 1.0 - pmf.sum()
        return pmf

    def _update(self, prepared: str, entries: list[ActionEntry], index: int, reward01: float,
                probability: float) -> None:
        cost = 1.0 - reward01
        # learning its own decisions unweighted, as the Personalizer's squarecb; from a log with 1/p
        p = probability if self._from_log else 1.0
        line = entries[index].vw_line
        predicted = np.empty(len(self._vws))
        for i, vw in enumerate(self._vws):
            examples = list(cached_examples(vw, self._label_type, self._caches[i], prepared, entries))
            examples[1 + index] = pylibvw.example(vw, self._label_type, f"0:{cost}:{p} {line}")
            pylibvw.vw.learn_multi(vw, examples)
            # VW's cb_adf (mtr) predicts before it updates and leaves that prediction on the first
            # example: the model's cost for this action before it learned this reward, with no second
            # predict pass (tests/test_selection.py pins it against a separate predict)
            predicted[i] = examples[0].get_action_scores()[index]
        self.loss += (np.clip(predicted, 0.0, 1.0) - cost) ** 2  # progressive validation
        if self._drift is not None:
            self._watch(reward01)

    def _learn_prepared(self, *args: Any, **kwargs: Any) -> None:
        self._from_log = True  # an event from a log: importance-weighted
        try:
            super()._learn_prepared(*args, **kwargs)
        finally:
            self._from_log = False

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Save every model, the squared errors and the sampling/event state to a folder, atomically;
        the metadata holds each model file's SHA-256, checked by `load`."""
        metadata = {
            "artbandit_version": artbandit_version(),
            "vowpalwabbit_version": getattr(vowpalwabbit, "__version__", "?"),
            "policy": SPEC, "options": self.options, "feature_schema": self.feature_schema(),
            "events_learned": self.n_learned, "loss": self.loss.tolist(), "state": self._base_state(),
            "drift": self._drift_state(),
        }

        def write(tmp: Path) -> None:
            checksums = {}
            for i, vw in enumerate(self._vws):
                vw.save(str(tmp / f"model{i}.vw"))
                checksums[f"model{i}.vw"] = file_sha256(tmp / f"model{i}.vw")
            metadata["model_sha256"] = checksums

        save_model_dir(path, metadata, write)

    @classmethod
    def load(cls, path: str | os.PathLike, **overrides: Any) -> "SelectingPersonalizer":
        """A model saved by `save`; continues exactly as the original would. `overrides` set run-time
        arguments (log, secret, ...) and reward-window options, never the learning ones."""
        meta = read_metadata(path)
        if meta.get("policy") != SPEC:
            raise BanditError(f"{path}: not a saved {SPEC} model (policy {meta.get('policy')!r})")
        options = saved_options(meta, path, PolicyOptions.names() + SELECT_OPTIONS + DRIFT_OPTIONS)
        overrides = without_fixed(overrides, options, SELECT_OPTIONS + ("seed",), path)
        checksums = meta.get("model_sha256")
        n = len(options.get("models", []))
        files = [Path(path) / f"model{i}.vw" for i in range(n)]
        if not isinstance(checksums, dict) or n == 0:
            raise BanditError(f"{path}: metadata.json records no model checksums; cannot verify the models")
        for f in files:
            if not f.is_file() or file_sha256(f) != checksums.get(f.name):
                raise BanditError(f"{f}: missing, or does not match the checksum in metadata.json")
        options.update(overrides)
        policy = cls(**options, _model_files=[str(f) for f in files])
        try:
            policy.loss = np.array([float(x) for x in meta["loss"]], dtype=float)
            if policy.loss.shape != (n,):
                raise ValueError("one squared error per model")
            policy._restore_base_state(meta["state"])
            policy._restore_drift_state(meta.get("drift"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BanditError(f"{path}: metadata.json has a damaged state ({type(exc).__name__}: {one_line(exc)})") from None
        return policy
