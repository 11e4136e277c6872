"""Errors the imaging library raises for bad input; the CLI prints them as one line."""


class ImagingError(Exception):
    """A problem with the user's input or output location (not a bug in artbandit)."""
