"""Wording the CLI and the demo share: "1 candidate" but "2 candidates", and a note that every source
repeats ("too small for --width 640 ...", once per image) printed once with a count.

Plain strings only (no click, no matplotlib), so any command can use it without slowing `--help`.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Iterable

_IRREGULAR = {"was": "were", "is": "are", "has": "have"}


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """'1 candidate', '2 candidates', '1,000 shots'; irregular plurals via `plural_form`."""
    word = (
        noun
        if count == 1
        else (
            plural_form
            or _IRREGULAR.get(noun)
            or (
                noun[:-1] + "ies"
                if noun.endswith("y") and noun[-2:-1] not in "aeiou"
                else noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")
            )
        )
    )
    return f"{count:,} {word}"


def number(x: float | None, fmt: str = "{:.4f}") -> str:
    """A number for a text table; '-' for a missing or non-finite one (a table never prints nan)."""
    return "-" if x is None or not math.isfinite(x) else fmt.format(x)


def grouped_notes(notes: Iterable[str], *, show: int = 3) -> list[str]:
    """Notes of the form '<source>: <message>', the same message for several sources said once:
    '<message> (7 sources: a.jpg, b.jpg, c.jpg, ...)'; a repeated note with no '<source>: ' prefix
    is said once with '(N times)'. Order of first appearance is kept; a note seen once is unchanged."""
    groups: dict[str, list[str]] = {}
    singles: dict[str, str] = {}
    for note in notes:
        source, sep, message = note.partition(": ")
        key = message if sep else note
        groups.setdefault(key, []).append(source if sep else "")
        singles.setdefault(key, note)
    out = []
    for message, sources in groups.items():
        if len(sources) == 1:
            out.append(singles[message])
            continue
        if not any(sources):  # no '<source>: ' prefix: the same sentence several times
            out.append(f"{message} ({len(sources)} times)")
            continue
        names = [PurePath(s).name or s for s in dict.fromkeys(sources)]
        shown = ", ".join(names[:show]) + (", ..." if len(names) > show else "")
        out.append(f"{message} ({plural(len(sources), 'source')}: {shown})")
    return out
