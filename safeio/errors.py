"""The errors safeio raises, and `one_line`, the one way every package turns an error into one line.

`one_line` lives here, in the package every other one may import (imaging and bandit never import
each other; both import safeio), so the CLI, the libraries, the jobs and the service all say an
error the same way.
"""

from __future__ import annotations


class OutputFolderError(ValueError):
    """An output folder that artbandit may not write, replace or report (the message says why)."""


def one_line(what: BaseException | str, *, typed: bool = False) -> str:
    """An error message on one line (VW's, SQLite's, FFmpeg's may span several).

    For an exception: an OSError reads `path: reason` (what a user acts on), not
    `[Errno 2] reason: 'path'`; an empty message gives the type's name; `typed` puts the type's name
    first (`ValueError: bad`), for reasons that must say what went wrong inside. A string is only
    collapsed onto one line."""
    if not isinstance(what, BaseException):
        return " ".join(str(what).split())
    if isinstance(what, OSError) and what.strerror:
        where = " -> ".join(str(f) for f in (what.filename, what.filename2) if f is not None)
        text = f"{where}: {what.strerror}" if where else what.strerror
    else:
        text = str(what)
    text = " ".join(text.split())
    name = type(what).__name__
    if not text:
        return name
    return f"{name}: {text}" if typed else text
