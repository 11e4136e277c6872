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
  swap replaces the old one only when the new one is complete;
- replacing (`--force`, or regenerating the same output) replaces what artbandit wrote and keeps
  everything else: the marker lists the files the output consists of (`files`), and the files of the
  old folder that it does not list (a user's `notes.txt`, a subfolder of their own) are carried into
  the new folder before the swap (`carry_foreign_files`, called by `atomic_dir`; hard links, so a
  crash at any point leaves them in the old or the new folder). A file whose path the new output
  itself uses is kept beside it as `<name>.kept`. A marker without `files` (written before this
  rule) marks the whole folder as artbandit's. Every command follows this one rule (extract,
  variants, simulate, replay, evaluate, demo, catalog titles); `catalog build` never replaces its
  folder, only title folders inside it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

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
                    f"({item}); choose another output folder"
                )
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
                "(choose an empty or new folder)"
            )
        if marker.get("kind") != self.kind:
            raise OutputFolderError(
                f"{self.path}: holds artbandit {marker.get('kind')!r} output, not {self.kind!r}; "
                "nothing was changed (choose another folder)"
            )
        same = marker.get("input_key") == _jsonable(self.input_key)
        if force:
            self._checked = "replace"
        elif same:
            self._checked = "same"
        else:
            raise OutputFolderError(
                f"{self.path}: holds artbandit {self.kind} output of a different input or options; "
                "use --force to replace it"
            )
        return self._checked

    def write_marker(self, staging: str | os.PathLike, *, exclude: Iterable[str] | None = None) -> None:
        """Write the marker into the folder being built (call before it is swapped into place).

        With `exclude` (a folder written in place, like the demo's: the user's files it kept), the
        marker lists the folder's files now, less those; `atomic_dir` lists them at the swap anyway."""
        data: dict[str, Any] = {"schema": SCHEMA, "kind": self.kind, "input_key": _jsonable(self.input_key)}
        if exclude is not None:
            skip = set(exclude)
            data["files"] = [f for f in output_files(staging) if f not in skip]
        (Path(staging) / MARKER).write_text(json.dumps(data, ensure_ascii=False), "utf-8")

    def foreign_files(self) -> list[str]:
        """The files in this (existing) output folder that artbandit did not write (see the module)."""
        return foreign_files(self.path)

    def clear_own(self, keep: Iterable[str]) -> None:
        """Remove everything in the folder except the files `keep` (relative paths), the folders
        holding them and the markers of nested outputs among those folders: for outputs written in
        place, which cannot be swapped (the demo's; it then rewrites its nested outputs with force)."""
        keep_set = set(keep)
        root = Path(self.path)
        if not root.is_dir():
            return
        needed = {os.path.normpath(p) for k in keep_set for p in Path(k).parents}
        # a nested artbandit output (the demo's extract/<title>/) that still holds a user's file
        # keeps its marker, so regenerating it (with force) replaces it and keeps that file
        keep_set |= {
            os.path.normpath(os.path.join(d, MARKER)) for d in needed if d != "." and (root / d / MARKER).is_file()
        }
        for dirpath, dirnames, filenames in os.walk(root, topdown=False):
            rel_dir = os.path.relpath(dirpath, root)
            for name in filenames:
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if rel not in keep_set:
                    os.unlink(os.path.join(dirpath, name))
            for name in dirnames:
                full = os.path.join(dirpath, name)
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if os.path.islink(full):
                    if rel not in keep_set:
                        os.unlink(full)
                elif rel not in needed:
                    shutil.rmtree(full, ignore_errors=True)


def output_files(folder: str | os.PathLike) -> list[str]:
    """Every file (and symbolic link) under `folder` as a relative POSIX path, sorted; not the marker."""
    root = Path(folder)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = (rel_dir / name).as_posix()
            if rel != MARKER:
                found.append(rel)
    return sorted(found)


def foreign_files(folder: str | os.PathLike) -> list[str]:
    """Files under an artbandit output folder that its marker does not list: the user's. Empty for a
    folder without a marker or with one written before markers listed files (all artbandit's)."""
    marker = read_marker(folder)
    if marker is None or not isinstance(marker.get("files"), list):
        return []
    own = set(marker["files"])
    return [f for f in output_files(folder) if f not in own]


def carry_foreign_files(staging: str | os.PathLike, final: str | os.PathLike) -> None:
    """Before `staging` (a complete new output, marker included) replaces `final`: record the new
    output's files in its marker and hard-link the user's files of `final` into it (see the module).
    Raises OutputFolderError, leaving `final` as it was, if one cannot be kept."""
    staging, final = Path(staging), Path(final)
    marker = read_marker(staging)
    if marker is None:
        return
    marker["files"] = output_files(staging)
    (staging / MARKER).write_text(json.dumps(marker, ensure_ascii=False), "utf-8")
    if not final.is_dir() or final.is_symlink():
        return
    for rel in foreign_files(final):
        src, dst = final / rel, staging / rel
        try:
            if dst.exists() or dst.is_symlink() or any(p.is_file() for p in dst.parents if staging in p.parents):
                dst = staging / f"{rel}.kept"  # the new output uses that path: keep the user's beside it
                n = 1
                while dst.exists() or dst.is_symlink():
                    n += 1
                    dst = staging / f"{rel}.kept{n}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            else:
                try:
                    os.link(src, dst)
                except OSError:  # another file system, or no hard links there
                    shutil.copy2(src, dst)
        except OSError as exc:
            raise OutputFolderError(
                f"{final}: could not keep your file {rel} in the new output ({exc.strerror or exc}); "
                "nothing was changed"
            ) from None


def _jsonable(value: Any) -> Any:
    """The key as it reads back from JSON (tuples become lists), so comparisons are like for like."""
    return json.loads(json.dumps(value, default=str))
