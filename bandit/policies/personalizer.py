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
every decision predicts with every model whose weight is not negligible and every reward trains all
of them (a negligible one: one reward in SPARSE_EVERY, weighted by as many) (with the defaults, one `-q cA` and one `-q cA -q ccA` model,
and, only while the actions offered are new at every round, an exact ridge regression:
bandit.policies.ridge, bandit.policies.fresh and `_gate_ridge`). Since issue 31 the models share
one parse of the context, learn with feature-less stand-ins for the actions not chosen and keep their
labelled examples, and keep few parsed contexts (so parsing stays in the CPU's caches): about
1.2-1.3x the one-model policy's CPU time per decision in bench/bandit.py (it was 2.5-3x). What it keeps: the Policy
contract (the probability floor, every decision logged with the probability it was sampled with, late
rewards, recovery), the Personalizer's drift hook (bandit.policies.drift_hook); saving and loading continue
exactly. The decision service runs it from the policy arguments `--cb_explore_adf --select`
(bandit.service.config).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pylibvw
import vowpalwabbit

from bandit.errors import BanditError
from bandit.features import ActionEntry, context_line
from bandit.options import PolicyOptions, real
from bandit.policies import vw as vw_policy
from bandit.policies.base import Policy
from bandit.policies.drift_hook import DriftHook
from bandit.policies.fresh import WINDOW, FreshActions
from bandit.policies.model_io import (
    artbandit_version,
    file_sha256,
    model_args,
    read_arrays,
    read_metadata,
    save_model_dir,
    saved_options,
    without_fixed,
)
from bandit.policies.ridge import MAX_SLOTS, RidgeRegression
from bandit.policies.vw import ExampleCache, open_model_file
from bandit.vwformat import ACTION_NAMESPACE
from safeio.errors import one_line

SPEC = "vw:select"
DEFAULT_MODELS: tuple[tuple[tuple[str, ...], float | None], ...] = ((("cA",), None), (("cA", "ccA"), 0.25))
SELECT_OPTIONS = ("models", "eta", "gamma_scale", "gamma_exponent", "bits", "ridge")
DRIFT_OPTIONS = ("drift_boost", "drift_floor")
BLANKS_KEPT = 64  # feature-less action examples kept per model for learning (see _blanks)
LABELLED_KEPT = 64  # labelled examples of chosen actions kept per model (see _labelled_example)
# contexts whose parsed example is kept for their rewards: few, on purpose. A parsed example holds
# ~32 KB; every decision parses a new one and drops the oldest, and with 256 kept (8 MB cycled) each
# parse landed in memory long out of the CPU's caches: 3-4 us more per decision in bench/bandit.py.
# Rewards later than 16 decisions mostly come after 256 too (on the simulator's `delayed` scenario
# 256 kept saved 1% of the parses), and a dropped context is parsed again, to the same example.
CONTEXTS_KEPT = 16
NEGLIGIBLE = 1e-12  # a mixture weight below this: the model is not asked at decision time
RIDGE_FILE = "ridge.npz"
RIDGE_ARRAYS = ("A", "A_inv", "b", "rows", "cols", "seen")  # what ridge.npz holds ("seen": the fresh table)
# ... and at most this many bytes of them uncompressed: A and A^-1 at MAX_SLOTS (289 x 289 doubles,
# 0.67 MB each), b, the coordinates and the 32 KB table come to ~1.4 MB
RIDGE_MAX_BYTES = 2 << 20
RIDGE_AUTO = "auto"  # the default: the ridge member decides only while the actions offered are fresh
# the share of fresh actions (bandit.policies.fresh) at which the "auto" ridge member joins the
# mixture, and below which it leaves (apart, so that a share near one line does not flap)
FRESH_JOIN, FRESH_LEAVE = 0.5, 0.25
# ... and the early join: this share after this many candidate sets (coba's benchmark: 1.0 from the
# first; the simulator's catalogues 0.25-0.34 at 32, a 50-title catalogue ~0.74)
FRESH_EARLY_SETS, FRESH_EARLY_SHARE = 32, 0.9
SPARSE_EVERY = 8  # ... and learns one reward in this many, weighted by as many (see _update)  # saved, but load(path, drift_boost=0) may turn it off


class PreparedLine(str):
    """The context's VW line, carrying the context it was made from for the ridge member: a
    reference (the event book keeps the same dict), not a copy of its features, so a pending
    event costs no more memory with the ridge member than without it."""

    context: dict


def _ridge_context(prepared: str) -> dict[str, float]:
    """The ridge member's view of a prepared context (empty for a plain line: the bias only)."""
    context = getattr(prepared, "context", None)
    return {} if context is None else RidgeRegression.context_features(context)


def _check_ridge(ridge: Any) -> tuple[str | None, tuple[int, int] | None]:
    """(mode, (context slots, action slots)): (None, None) for no ridge member, ("auto", (11, 11))
    for the default (it joins while the actions are fresh: see _gate_ridge), ("always", slots)."""
    if ridge is None or ridge is False:
        return None, None
    if isinstance(ridge, str) and ridge == RIDGE_AUTO:
        return RIDGE_AUTO, (11, 11)
    if ridge is True:
        return "always", (11, 11)
    try:
        c, a = (int(x) for x in ridge)
        if not (1 <= c <= MAX_SLOTS and 1 <= a <= MAX_SLOTS):
            raise ValueError
    except (TypeError, ValueError):
        raise BanditError(
            f"ridge must be None, 'auto', true or [context slots, action slots] within 1-{MAX_SLOTS}, got {ridge!r}"
        ) from None
    return "always", (c, a)


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
        raise BanditError(
            f"models must be [(interactions like ['cA'], learning rate or None), ...], got {models!r}"
        ) from None
    if not out:
        raise BanditError("models must name at least one interaction set")
    return tuple(out)


class Personalizer(DriftHook, Policy):
    """The default policy (`make_policy("vw")`, spec `vw:select`): squarecb on a mixture of VW
    regressions (one per interaction set), weighted online by their squared error, with the drift hook. Policy options (min_probability,
    reward_wait_s, log, ...) are those of `Policy`."""

    name = SPEC

    def __init__(
        self,
        *,
        models: Sequence = DEFAULT_MODELS,
        eta: float = 2.0,
        gamma_scale: float = 50.0,
        gamma_exponent: float = 0.5,
        bits: int = 18,
        ridge: Any = RIDGE_AUTO,
        drift_boost: int = 3000,
        drift_floor: float = 0.05,
        _model_files: Sequence[str] | None = None,
        _ridge_model: RidgeRegression | None = None,
        _fresh: FreshActions | None = None,
        **policy_args: Any,
    ) -> None:
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
                args = f"--cb_adf --quiet --random_seed {int(self.seed)} -b {self.bits} " + " ".join(
                    f"--interactions {q}" for q in interactions
                )
                self._vws.append(vowpalwabbit.Workspace(arg_list=args.split() + learning))
        except Exception as exc:  # VW raises plain RuntimeError/ValueError for bad arguments/files
            raise BanditError(f"Vowpal Wabbit rejected the model or arguments: {one_line(exc)}") from None
        self._label_type = int(self._vws[0].get_label_type())
        # the exact least-squares member (bandit.policies.ridge), last in the mixture when asked for
        self.ridge_mode, self.ridge = _check_ridge(ridge)
        self._ridge: RidgeRegression | None = None
        if self.ridge is not None:
            self._ridge = _ridge_model if _ridge_model is not None else RidgeRegression(*self.ridge)
        # "auto": how fresh the actions are (bandit.policies.fresh), and whether the member is in
        # the mixture now (it learns in the shadow over the first WINDOW rewards, then joins only
        # while most actions offered are new: _gate_ridge); "always": in it from the start
        self._fresh: FreshActions | None = None
        self._ridge_on = self.ridge_mode == "always"  # a loaded "auto" one: set by load
        # whether the member learns the next reward (and so the context goes with its line: _prepare);
        # "auto": recomputed at every update (_update), and by load. An event decided while it was
        # dormant and learned once it is back gives it the bias alone (no context): rare, and cheap.
        self._ridge_learns = self._ridge is not None
        if self.ridge_mode == RIDGE_AUTO:
            self._fresh = _fresh if _fresh is not None else FreshActions()
        members = len(self._vws) + (self._ridge is not None)
        # the last candidate set's entries and their ridge action matrix (see _mixed_costs)
        self._ridge_set: tuple[list, tuple] | None = None
        # what VW was given, per model, for people reading /model/properties or a status page
        self.vw_args = " ; ".join(model_args(vw) for vw in self._vws)
        # each model's squared error on rewards before it learned them: a list, replaced at every
        # update; `loss` (an array) is made from it only when someone asks (see the property)
        self._loss: list[float] | None = [0.0] * members
        self._loss_array: np.ndarray | None = None
        self._caches = [ExampleCache() for _ in self._vws]  # parsed action examples, one cache per model
        self._contexts: dict[str, list] = {}  # prepared line -> [its parsed example, the model it is set up for]
        self._context_chars = 0  # the kept contexts' text length (their bound in bytes)
        self._blank_pool: list[list] = [[] for _ in self._vws]
        # per model: the last candidate set (its entries) and its parsed examples, asked for again
        # by the next decision when the candidates did not change (see _action_examples)
        self._last_set: list[tuple[list, list]] = [([], []) for _ in self._vws]
        self._labelled: list[dict[tuple, Any]] = [{} for _ in self._vws]
        self._weights_of: Any = None
        self._weights: list[float] = []
        self._from_log = False
        # per model: rewards passed over since it last learned while its weight was negligible
        self._skipped = [0] * members
        self._init_drift(drift_boost, drift_floor)  # bandit.policies.drift_hook, as the Personalizer's
        self.options = {
            **self.policy_options.to_json(),
            "models": [[list(i), r] for i, r in self.models],
            "eta": self.eta,
            "gamma_scale": self.gamma_scale,
            "gamma_exponent": self.gamma_exponent,
            "bits": self.bits,
            "ridge": self.ridge_mode if self.ridge_mode != "always" else list(self.ridge),  # type: ignore[arg-type]
            "drift_boost": self.drift_boost,
            "drift_floor": self.drift_floor,
        }

    @property
    def spec(self) -> str:
        return SPEC

    def workspaces(self) -> list:
        """Every VW workspace (model import checks each one's stored options)."""
        return list(self._vws)

    @property
    def loss(self) -> np.ndarray:
        """Each model's squared error on the rewards before it learned them (progressive validation).
        Made from the list `_update` keeps only when asked (a status page, save): an array per
        update cost ~1 us per decision. The array handed out is the one the next update reads, so
        changing it in place (as `loss[:] = ...` did before) still counts."""
        if self._loss_array is None:
            self._loss_array = np.array(self._loss)
        return self._loss_array

    @loss.setter
    def loss(self, value: np.ndarray) -> None:
        self._loss_array = value
        self._loss = None  # the array is the state now (load assigns it)

    def weights(self) -> np.ndarray:
        """Each model's share of the mixture now: exp(-eta x its squared error so far), normalised
        (0 for a ridge member out of the mixture: see _gate_ridge)."""
        loss = self.loss
        out = self._ridge is not None and not self._ridge_on
        if out:
            loss = loss[:-1]
        w = np.exp(-self.eta * (loss - loss.min()))
        w = w / w.sum()
        return np.r_[w, 0.0] if out else w

    def mixture_status(self) -> dict[str, Any]:
        """What the mixture is now, for a status page: each member's weight (the VW models in
        order, then the ridge member if there is one), the ridge member's mode, whether it is in
        the mixture, and the share of new actions that decides it ("auto")."""
        out: dict[str, Any] = {
            "weights": [round(w, 6) for w in self.weights().tolist()],
            "ridge": self.ridge_mode,
            "ridgeInMixture": self._ridge is not None and self._ridge_on,
        }
        if self._fresh is not None:
            out["freshShare"] = round(self._fresh.share, 4)
        return out

    # -- the two hooks -------------------------------------------------------------------------
    _prepare_validates = True  # context_line checks every value it formats

    def _prepare(self, context: dict) -> str:
        line = context_line(context)
        if not self._ridge_learns:  # no ridge member, or one that will neither learn nor be asked
            return line
        prepared = PreparedLine(line)
        prepared.context = context
        return prepared

    def _ridge_actions(self, entries: list[ActionEntry]) -> list[dict[str, float]]:
        """The actions' features as the ridge member reads them, kept with each registry entry."""
        out = []
        for entry in entries:
            flat = entry.extra.get("ridge")
            if flat is None:
                flat = entry.extra["ridge"] = RidgeRegression.action_features(entry.id, entry.features)
                # its bytes against the registry's bound (measured ~370 an entry with 5 features)
                self._registry.charge(120 + 64 * len(flat))
            out.append(flat)
        return out

    def _current_weights(self) -> list[float]:
        """`weights()` as Python floats, recomputed only when the squared errors changed (every
        update replaces `_loss`, and `load` assigns `loss`), in plain Python: for two models numpy's
        per-call overhead was most of the cost. Equal to `weights()` within rounding (1 ulp)."""
        state: Any = self._loss if self._loss is not None else self._loss_array
        if self._weights_of is not state:
            loss = state if type(state) is list else state.tolist()
            out = self._ridge is not None and not self._ridge_on
            if out:  # a ridge member out of the mixture: the others' weights as without it, its 0
                loss = loss[:-1]
            eta = self.eta
            if len(loss) == 2:  # the default mixture, without two comprehensions' calls (~0.7 us)
                a, b = loss
                low = b if b < a else a  # min(loss), NaN included
                wa, wb = math.exp(-eta * (a - low)), math.exp(-eta * (b - low))
                total = wa + wb  # sum(w): 0 + wa + wb, in that order
                self._weights = [wa / total, wb / total]
            else:
                low = min(loss)
                w = [math.exp(-eta * (x - low)) for x in loss]
                total = sum(w)
                self._weights = [x / total for x in w]
            if out:
                self._weights.append(0.0)
            self._weights_of = state
        return self._weights

    def _context_example(self, i: int, prepared: str) -> Any:
        """The decision's shared (context) example, set up for model `i`.

        Why one parse for every model: parsing the never-repeating context line is the costliest
        VW call of a decision, and the models differ only in their interactions, which VW attaches
        when it sets an example up. So the context is parsed once and moved between workspaces
        (`unsetup_example` then `setup_example`, ~1 us against ~7 us for a parse);
        tests/bandit/policies/test_personalizer.py pins that every model predicts and learns exactly as with its own
        parse. The last CONTEXTS_KEPT contexts are kept, so a prompt reward finds its decision's, and
        at most vw_policy.SHARED_CHARS of their text (a parsed example costs a few times its text: a
        client sending ~1 MB contexts must not make the kept ones tens of MB)."""
        contexts = self._contexts
        held = contexts.get(prepared)
        if held is None:
            while contexts and (
                len(contexts) >= CONTEXTS_KEPT or self._context_chars + len(prepared) > vw_policy.SHARED_CHARS
            ):
                oldest = next(iter(contexts))  # oldest first
                self._context_chars -= len(oldest)
                del contexts[oldest]
            held = contexts[prepared] = [pylibvw.example(self._vws[i], self._label_type, prepared), i]
            self._context_chars += len(prepared)
        elif held[1] != i:
            pylibvw.vw.unsetup_example(self._vws[held[1]], held[0])
            pylibvw.vw.setup_example(self._vws[i], held[0])
            held[1] = i
        return held[0]

    def _action_examples(self, i: int, entries: list[ActionEntry]) -> list:
        """Model `i`'s parsed action examples (vw_policy.cached_examples' bounded cache, per model:
        an action example stays set up for its workspace). The last candidate set's list is kept:
        a decision offering the same actions (the same registry entries) reuses it as it is."""
        last = self._last_set[i]
        if last[0] == entries:  # the same ActionEntry objects: compared by identity first
            return last[1]
        vw, actions = self._vws[i], self._caches[i].actions
        label_type = self._label_type
        out = []
        for entry in entries:
            example = actions.pop(entry.uid, None)  # re-inserted below: most recently used last
            if example is None:
                if len(actions) >= vw_policy.ACTION_EXAMPLES:
                    del actions[next(iter(actions))]  # least recently used
                example = pylibvw.example(vw, label_type, entry.vw_line)
            actions[entry.uid] = example
            out.append(example)
        self._last_set[i] = (entries, out)
        return out

    def _blanks(self, i: int, k: int) -> list:
        """k feature-less action examples of model i (see `_update`): the first BLANKS_KEPT made once
        and reused (a parsed example holds tens of KB, so a call with thousands of actions must not
        leave thousands behind), any beyond made for this call only."""
        pool = self._blank_pool[i]
        keep = BLANKS_KEPT
        while len(pool) < k and len(pool) < keep:
            pool.append(pylibvw.example(self._vws[i], self._label_type, f"|{ACTION_NAMESPACE}"))
        if k <= len(pool):
            return pool[:k]
        return pool + [
            pylibvw.example(self._vws[i], self._label_type, f"|{ACTION_NAMESPACE}") for _ in range(k - len(pool))
        ]

    def _mixed_costs(self, prepared: str, entries: list[ActionEntry]) -> list[float]:
        """The mixture's predicted cost of each action (each model's clipped to [0, 1]). A model whose
        weight is below NEGLIGIBLE is not asked: its share of any cost is below that, and once the
        mixture has chosen (on the simulator the `-q cA` model's weight is 1 - 1e-136 after 30,000
        rewards) that skips the costlier model's prediction at every decision. It still learns and
        is scored, on one reward in SPARSE_EVERY weighted by as many (see `_update`), so its weight
        comes back if it starts predicting better."""
        weights = self._current_weights()
        costs = [0.0] * len(entries)
        negligible = NEGLIGIBLE
        for i, vw in enumerate(self._vws):
            w = weights[i]
            if w < negligible:
                continue
            last = self._last_set[i]  # _action_examples' first look, inline: twice per decision
            examples = [
                self._context_example(i, prepared),
                *(last[1] if last[0] == entries else self._action_examples(i, entries)),
            ]
            pylibvw.vw.predict_multi(vw, examples)
            # the same float64 arithmetic as the numpy form it replaced (0 + w*clip(s), in model order)
            costs = [
                c + w * (0.0 if s < 0.0 else 1.0 if s > 1.0 else s)
                for c, s in zip(costs, examples[0].get_action_scores())
            ]
        ridge = self._ridge
        if ridge is not None:
            w = weights[-1]
            if w >= negligible:
                context = _ridge_context(prepared)
                kept = self._ridge_set
                if kept is None or kept[0] != entries or kept[1][2] != ridge.action_slots_used:
                    kept = self._ridge_set = (entries, ridge.action_matrix(self._ridge_actions(entries)))
                costs = [c + w * s for c, s in zip(costs, ridge.costs(context, kept[1]))]
        return costs

    def _pmf(self, prepared: str, entries: list[ActionEntry]) -> list[float]:
        costs = self._mixed_costs(prepared, entries)
        gamma = self.gamma_scale * (self.n_learned + 1) ** self.gamma_exponent
        k = len(costs)
        # the first minimum (min keeps the first of equal values, and list.index finds that very
        # object): the index min(range(k), key=costs.__getitem__) gave, without a call per action
        low = min(costs)
        best = costs.index(low)
        pmf = [1.0 / (k + gamma * (c - low)) for c in costs]  # squarecb (Foster & Rakhlin 2020)
        pmf[best] = 0.0
        pmf[best] = 1.0 - sum(pmf)
        return pmf

    def _labelled_example(self, i: int, entry: ActionEntry, cost: float, p: float) -> Any:
        """Model `i`'s example of `entry` labelled `0:cost:p`, parsed once and kept (the last
        LABELLED_KEPT, oldest dropped first): rewards are mostly a few values (a click or not) and
        VW's cb_adf learns from a labelled example without changing it (its weight and label are
        restored after the update), so the same example learns the same the next time.
        Keyed by the floats: equal floats (never -0.0 here: the cost is 1 - r, p > 0) format alike."""
        cache = self._labelled[i]
        key = (entry.uid, cost, p)
        example = cache.get(key)
        if example is None:
            if len(cache) >= LABELLED_KEPT:
                del cache[next(iter(cache))]
            example = cache[key] = pylibvw.example(self._vws[i], self._label_type, f"0:{cost}:{p} {entry.vw_line}")
        return example

    def _update(
        self, prepared: str, entries: list[ActionEntry], index: int, reward01: float, probability: float
    ) -> None:
        cost = 1.0 - reward01
        # learning its own decisions unweighted, as the Personalizer's squarecb; from a log with 1/p
        p = probability if self._from_log else 1.0
        entry = entries[index]
        k = len(entries)
        # a new list (`_current_weights` sees the change by identity), from the array if one was
        # handed out (it may have been changed in place)
        array = self._loss_array
        loss = array.tolist() if array is not None else self._loss[:]  # type: ignore[index]
        vws = self._vws
        n = len(vws)
        # the models learn independently, so the order is free: the one the context example is set
        # up for learns first, which saves moving it there and back
        held = self._contexts.get(prepared)
        first = 0 if held is None else held[1]
        weights = self._current_weights()  # before this reward: the weights its decision used
        skipped = self._skipped
        for j in range(n):
            i = first + j
            if i >= n:
                i -= n
            vw = vws[i]
            scale = 1
            if weights[i] < NEGLIGIBLE:
                # a model nobody asks at decision time learns one reward in SPARSE_EVERY, with
                # importance weight SPARSE_EVERY (VW label probability p / m) and its squared error
                # counted as many times: an unbiased estimate of learning every reward at 1/m of
                # the cost, so its weight still comes back if it starts predicting better
                skipped[i] += 1
                if skipped[i] < SPARSE_EVERY:
                    continue
                skipped[i] = 0
                scale = SPARSE_EVERY
            # VW's cb_adf regression (mtr) learns from the chosen action's example alone; the others
            # only count (their number scales the update) and get a prediction nobody reads. So they
            # are given as feature-less examples: the same update, without predicting every
            # action with third-order terms (tests/bandit/policies/test_personalizer.py pins it
            # against full examples). The context is parsed once and moved between the models.
            pool = self._blank_pool[i]
            context = held[0] if j == 0 and held is not None else self._context_example(i, prepared)
            examples = [context, *(pool[:k] if k <= len(pool) else self._blanks(i, k))]
            examples[1 + index] = self._labelled_example(i, entry, cost, p if scale == 1 else p / scale)
            pylibvw.vw.learn_multi(vw, examples)
            # VW's cb_adf (mtr) predicts before it updates and leaves that prediction on the first
            # example: the model's cost for this action before it learned this reward, with no second
            # predict pass (tests/bandit/policies/test_personalizer.py pins it against a separate predict)
            predicted = examples[0].get_action_scores()[index]
            d = (0.0 if predicted < 0.0 else 1.0 if predicted > 1.0 else predicted) - cost
            loss[i] += d * d if scale == 1 else scale * d * d  # progressive validation
        ridge = self._ridge
        fresh = self._fresh
        learns = ridge is not None
        if fresh is not None:
            fresh.observe(entries)
            # "auto": it learns while in the mixture, and in the shadow over its trial while the
            # actions look fresh (on a catalogue the share falls below FRESH_LEAVE within a few dozen
            # rewards, and learning stops there: ~100 us of numpy a reward saved)
            learns = self._ridge_on or (fresh.sets <= WINDOW and fresh.share >= FRESH_LEAVE)
        if learns and ridge is not None:
            i = n
            scale = 1
            if self._ridge_on and weights[i] < NEGLIGIBLE:  # as the VW models above: one in SPARSE_EVERY
                skipped[i] += 1
                scale = 0
                if skipped[i] >= SPARSE_EVERY:
                    skipped[i] = 0
                    scale = SPARSE_EVERY
            if scale:
                # unweighted for its own decisions, 1/p from a log, as the VW models' labels
                predicted = ridge.learn(
                    _ridge_context(prepared),
                    self._ridge_actions([entry])[0],
                    cost,
                    scale / p,
                )
                d = predicted - cost
                loss[i] += d * d if scale == 1 else scale * d * d
        if fresh is not None:
            if not learns:  # its squared error is stale: held at the worst model's
                loss[-1] = max(loss[:-1])
                if ridge is not None and ridge.updates:
                    # and its fit is dropped: a member that comes back starts afresh rather than
                    # from a stale fit, and a dormant one costs a model file ~1 KB, not ~370 KB
                    self._ridge = RidgeRegression(*self.ridge)  # type: ignore[misc]
                    self._ridge_set = None
            self._gate_ridge(fresh)
            self._ridge_learns = self._ridge_on or (fresh.sets < WINDOW and fresh.share >= FRESH_LEAVE)
        self._loss, self._loss_array = loss, None
        if self._drift is not None:
            self._watch(reward01)

    def _gate_ridge(self, fresh: FreshActions) -> None:
        """Whether the "auto" ridge member is in the mixture after this reward. It learns in the
        shadow over its trial (the first WINDOW rewards, while the share of fresh actions is at
        least FRESH_LEAVE), scored like the others, and joins once the actions offered are plainly
        fresh (at least FRESH_EARLY_SHARE of them new after FRESH_EARLY_SETS candidate sets: actions
        new at every round), or after the trial while at least FRESH_JOIN are new; it leaves when
        that falls below FRESH_LEAVE. On a catalogue of fixed variants it never joins and the
        policy decides exactly as without it (the other models' weights are normalised among
        themselves). Whenever it does not learn its squared error is held at the worst model's and
        its fit is dropped (`_update`), so if it comes back it starts afresh from there."""
        sets, on = fresh.sets, self._ridge_on
        if sets < FRESH_EARLY_SETS:
            return
        if on:
            on = fresh.share >= FRESH_LEAVE
        elif sets < WINDOW:
            on = fresh.share >= FRESH_EARLY_SHARE
        else:
            on = fresh.share >= FRESH_JOIN
        if on != self._ridge_on:
            self._ridge_on = on
            self._weights_of = None

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
            "policy": SPEC,
            "options": self.options,
            "feature_schema": self.feature_schema(),
            "events_learned": self.n_learned,
            "loss": self.loss.tolist(),
            "state": self._base_state(),
            "drift": self._drift_state(),
            "skipped": list(self._skipped),
        }
        ridge_arrays = None
        if self._ridge is not None:
            metadata["ridge_state"], ridge_arrays = self._ridge.state()
            ridge_arrays = dict(ridge_arrays)
            if self._fresh is not None:
                metadata["fresh_state"], ridge_arrays["seen"] = self._fresh.state()
                metadata["fresh_state"]["in_mixture"] = self._ridge_on

        def write(tmp: Path) -> None:
            checksums = {}
            for i, vw in enumerate(self._vws):
                vw.save(str(tmp / f"model{i}.vw"))
                checksums[f"model{i}.vw"] = file_sha256(tmp / f"model{i}.vw")
            if ridge_arrays is not None:
                with open(tmp / RIDGE_FILE, "wb") as f:
                    arrays: dict[str, Any] = {k: v for k, v in ridge_arrays.items() if k in RIDGE_ARRAYS}
                    np.savez_compressed(f, **arrays)  # the fresh-action table is mostly zeros
                checksums[RIDGE_FILE] = file_sha256(tmp / RIDGE_FILE)
            metadata["model_sha256"] = checksums

        save_model_dir(path, metadata, write)

    @classmethod
    def load(cls, path: str | os.PathLike, **overrides: Any) -> "Personalizer":
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
        ridge_model = fresh = None
        if options.get("ridge") is not None:
            f = Path(path) / RIDGE_FILE
            if not f.is_file() or file_sha256(f) != checksums.get(RIDGE_FILE):
                raise BanditError(f"{f}: missing, or does not match the checksum in metadata.json")
            try:
                arrays = read_arrays(f, RIDGE_ARRAYS, RIDGE_MAX_BYTES)
                ridge_model = RidgeRegression.from_state(meta["ridge_state"], arrays)
                if options["ridge"] == RIDGE_AUTO:
                    fresh = FreshActions.from_state(meta["fresh_state"], arrays["seen"])
            except (KeyError, TypeError, ValueError, OSError) as exc:
                raise BanditError(f"{f}: a damaged ridge model ({type(exc).__name__}: {one_line(exc)})") from None
        options.update(overrides)
        if "ridge" not in options:  # saved before the ridge member existed: none
            options["ridge"] = None
        policy = cls(**options, _model_files=[str(f) for f in files], _ridge_model=ridge_model, _fresh=fresh)
        try:
            policy.loss = np.array([float(x) for x in meta["loss"]], dtype=float)
            members = n + (ridge_model is not None)
            if policy.loss.shape != (members,):
                raise ValueError("one squared error per model")
            policy._restore_base_state(meta["state"])
            policy._restore_drift_state(meta.get("drift"))
            if fresh is not None:
                policy._ridge_on = bool(meta["fresh_state"]["in_mixture"])
                policy._ridge_learns = policy._ridge_on or (fresh.sets < WINDOW and fresh.share >= FRESH_LEAVE)
            skipped = meta.get("skipped", [0] * members)  # saved before sparse learning: none passed over
            if len(skipped) != members:
                raise ValueError("one count of passed-over rewards per model")
            policy._skipped = [int(x) for x in skipped]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BanditError(
                f"{path}: metadata.json has a damaged state ({type(exc).__name__}: {one_line(exc)})"
            ) from None
        return policy
