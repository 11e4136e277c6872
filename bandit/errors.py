"""Errors the bandit library raises for bad input; the CLI prints them as one line."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (VW's and SQLite's may span several), or its type's name.
    An OSError reads `path: reason` (what a user acts on), not `[Errno 2] reason: 'path'`."""
    if isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        text = f"{where}: {exc.strerror}" if where else exc.strerror
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


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
