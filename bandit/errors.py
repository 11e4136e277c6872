"""Errors the bandit library raises for bad input; the CLI prints them as one line."""


class BanditError(Exception):
    """A problem with the caller's input (bad reward, unknown event, unreadable model...)."""
