"""bandit: a Vowpal Wabbit contextual bandit with a Rank/Reward API, baselines, and a
propensity-logged SQLite event store. Never imports `imaging` (image features arrive as dicts)."""
from __future__ import annotations

from bandit.baselines import LinUCB, ThompsonPerTitle, UniformPolicy
from bandit.errors import (
    BanditError,
    DuplicateRewardError,
    ExpiredEventError,
    InvalidRewardError,
    RewardError,
    UnknownEventError,
)
from bandit.eventlog import EXPORT_FORMATS, EventLog, LoggedEvent
from bandit.options import PolicyOptions
from bandit.policy import Decision, Policy, apply_floor
from bandit.specs import SPECS, make_policy
from bandit.vw_policy import EXPLORATIONS, Personalizer
from bandit.warmstart import learn_from_events, train_from_log

__all__ = [
    "BanditError", "Decision", "DuplicateRewardError", "EXPLORATIONS", "EXPORT_FORMATS", "EventLog",
    "ExpiredEventError", "InvalidRewardError", "LinUCB", "LoggedEvent", "Personalizer", "Policy", "PolicyOptions",
    "RewardError", "SPECS", "ThompsonPerTitle", "UniformPolicy", "UnknownEventError", "apply_floor",
    "learn_from_events", "make_policy", "train_from_log",
]
