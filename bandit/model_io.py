"""Saving models as folders, atomically: everything is written to a temporary sibling folder, then
renamed into place, so a crash never leaves a half-written model (the old one stays intact)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from bandit.errors import BanditError
from safeio.atomic import atomic_dir

MODEL_SCHEMA = "artbandit.model/1"
METADATA = "metadata.json"


def artbandit_version() -> str:
    try:
        from importlib.metadata import version

        return version("artbandit")
    except Exception:  # noqa: BLE001 - running from a source tree without install
        return "0+unknown"


def save_model_dir(path: str | os.PathLike, metadata: dict[str, Any],
                   write_files: Callable[[Path], None] | None = None) -> Path:
    """Write `metadata.json` (plus whatever `write_files(tmp_dir)` writes) and swap it into `path`.

    The folder is private (0700): a model folder may hold an HMAC secret's neighbours and learned
    weights of user features. The swap never leaves `path` without a complete model (safeio.atomic).
    """
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise BanditError(f"{final}: exists and is not a folder")
    with atomic_dir(final, mode=0o700) as tmp:
        if write_files is not None:
            write_files(tmp)
        (tmp / METADATA).write_text(json.dumps({"schema": MODEL_SCHEMA, **metadata}, indent=1), "utf-8")
    return final


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a saved model folder; BanditError naming the folder if it is not one."""
    folder = Path(path)
    meta_file = folder / METADATA
    if not folder.is_dir():
        raise BanditError(f"{folder}: no such model folder")
    try:
        meta = json.loads(meta_file.read_text("utf-8"))
    except FileNotFoundError:
        raise BanditError(f"{folder}: not an artbandit model (no {METADATA})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BanditError(f"{meta_file}: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("schema") != MODEL_SCHEMA:
        raise BanditError(f"{meta_file}: not an artbandit model metadata file")
    return meta
