"""Output folders artbandit may replace: only its own, never one holding an input, never a stranger's.

Every command that writes a folder (extract, variants, simulate, replay, demo, train, catalog, ...)
asks an `OutputFolder` before it writes. The rules:

- the output folder may not be, or contain, one of the run's inputs;
- an existing, non-empty folder is replaced only if it holds artbandit's marker file
  (`.artbandit-output.json`, written into every output before it is swapped in) for the same kind
  of output, and only with `--force` (or when the caller asks to overwrite its own output);
- a marker written for a different input (another video, other options) is reported as such and
  never taken for this run's result;
- nothing is removed here: the caller builds the new folder with `safeio.atomic.atomic_dir` and the
  swap replaces the old one only when the new one is complete.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from safeio.errors import OutputFolderError

MARKER = ".artbandit-output.json"
SCHEMA = "artbandit.output/1"

State = Literal["new", "same", "replace"]


def _resolved(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.path.realpath(path)))


def read_marker(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The marker of an artbandit output folder, or None if the folder has none (or a broken one)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None


@dataclass
class OutputFolder:
    """One command's output folder and what it was made from.

    kind: what writes it ("extract", "variants", "replay", ...); a folder of another kind is refused.
    inputs: the paths the run reads; the folder may not be or contain any of them.
    input_key: a fingerprint of the input and options (any JSON-able value); an existing output with
        another key is a different input's output and is never reported as this run's.
    """

    path: Path
    kind: str
    inputs: Sequence[str | os.PathLike] = ()
    input_key: Any = None
    _checked: State | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def check(self, *, force: bool = False) -> State:
        """Decide what writing here means, before anything is written or removed.

        Returns "new" (absent or empty), "same" (artbandit's output for this very input: the caller
        may reuse or skip it unless force), or "replace" (artbandit's own output, force given).
        Raises OutputFolderError with a one-line reason otherwise.
        """
        out = _resolved(self.path)
        for item in self.inputs:
            source = _resolved(item)
            if source == out or out in source.parents:
                raise OutputFolderError(
                    f"{self.path}: the output folder {'is' if source == out else 'contains'} an input "
                    f"({item}); choose another output folder")
        if not out.exists():
            self._checked = "new"
            return "new"
        if not out.is_dir():
            raise OutputFolderError(f"{self.path}: exists and is not a folder")
        if not any(out.iterdir()):
            self._checked = "new"
            return "new"
        marker = read_marker(out)
        if marker is None:
            raise OutputFolderError(
                f"{self.path}: exists and was not written by artbandit; nothing was changed "
                "(choose an empty or new folder)")
        if marker.get("kind") != self.kind:
            raise OutputFolderError(
                f"{self.path}: holds artbandit {marker.get('kind')!r} output, not {self.kind!r}; "
                "nothing was changed (choose another folder)")
        same = marker.get("input_key") == _jsonable(self.input_key)
        if force:
            self._checked = "replace"
        elif same:
            self._checked = "same"
        else:
            raise OutputFolderError(
                f"{self.path}: holds artbandit {self.kind} output of a different input or options; "
                "use --force to replace it")
        return self._checked

    def write_marker(self, staging: str | os.PathLike) -> None:
        """Write the marker into the folder being built (call before it is swapped into place)."""
        data = {"schema": SCHEMA, "kind": self.kind, "input_key": _jsonable(self.input_key)}
        (Path(staging) / MARKER).write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def _jsonable(value: Any) -> Any:
    """The key as it reads back from JSON (tuples become lists), so comparisons are like for like."""
    return json.loads(json.dumps(value, default=str))
