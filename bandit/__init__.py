"""bandit: a Vowpal Wabbit contextual bandit with a Rank/Reward API, baselines, and a
propensity-logged SQLite event store. Never imports `imaging` (image features arrive as dicts).

The public names load lazily (as in `imaging`), so `import bandit.choices` (the CLI's choices) costs
no VW or numpy; `from bandit import make_policy` and `bandit.<submodule>` work as before.
"""

from __future__ import annotations

from safeio.lazy import lazy_exports

_EXPORTS = {
    "LinUCB": "bandit.policies.baselines",
    "ThompsonPerTitle": "bandit.policies.baselines",
    "UniformPolicy": "bandit.policies.baselines",
    "BanditError": "bandit.errors",
    "DuplicateRewardError": "bandit.errors",
    "ExpiredEventError": "bandit.errors",
    "InvalidRewardError": "bandit.errors",
    "RewardError": "bandit.errors",
    "UnknownEventError": "bandit.errors",
    "EXPORT_FORMATS": "bandit.choices",
    "EXPLORATIONS": "bandit.choices",
    "EventLog": "bandit.log.eventlog",
    "LoggedEvent": "bandit.log.eventlog",
    "PolicyOptions": "bandit.options",
    "Decision": "bandit.lifecycle.book",
    "Policy": "bandit.policies.base",
    "apply_floor": "bandit.policies.base",
    "SPECS": "bandit.policies.specs",
    "make_policy": "bandit.policies.specs",
    "VWPolicy": "bandit.policies.vw",
    "Personalizer": "bandit.policies.personalizer",
    "load_saved_policy": "bandit.policies.specs",
    "learn_from_events": "bandit.policies.warmstart",
    "train_from_log": "bandit.policies.warmstart",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, namespace=globals(), submodules=True)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
