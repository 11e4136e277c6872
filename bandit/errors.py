"""Errors the bandit library raises for bad input; the CLI prints them as one line (safeio.errors.one_line)."""


class BanditError(Exception):
    """A problem with the caller's input (bad reward, unknown event, unreadable model...)."""


class RewardError(BanditError):
    """A reward that cannot be accepted (base of the specific reward errors below)."""


class UnknownEventError(RewardError):
    """The event id was never ranked by this policy (or is too old to be remembered)."""


class ExpiredEventError(RewardError):
    """The event's reward window closed (it already learned from the default reward)."""


class DuplicateRewardError(RewardError):
    """The event already has its final reward (aggregation 'earliest')."""


class InvalidRewardError(RewardError):
    """The reward is NaN, infinite, not a number, or outside the policy's reward range."""
