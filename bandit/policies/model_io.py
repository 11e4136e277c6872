"""Saving models as folders, atomically, and verifying them on load: everything is written to a
temporary sibling folder, then swapped into place (safeio.atomic), so a crash never leaves a
half-written model; the metadata records the model file's checksum and VW arguments, checked on load."""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any, Callable, Collection

import numpy as np

from bandit.errors import BanditError
from safeio.atomic import atomic_dir, recover_dir

MODEL_SCHEMA = "artbandit.model/1"
METADATA = "metadata.json"
# what a save writes into a model folder: the metadata and the VW model files (model.vw; vw:select's
# model0.vw, model1.vw, ... and its ridge member's ridge.npz). Anything else in the folder is the user's.
_MODEL_ENTRY = re.compile(r"^(metadata\.json|model\d*\.vw|ridge\.npz)\Z")


def artbandit_version() -> str:
    try:
        from importlib.metadata import version

        return version("artbandit")
    except Exception:  # noqa: BLE001 - running from a source tree without install
        return "0+unknown"


def save_model_dir(
    path: str | os.PathLike, metadata: dict[str, Any], write_files: Callable[[Path], None] | None = None
) -> Path:
    """Write `metadata.json` (plus whatever `write_files(tmp_dir)` writes) and swap it into `path`.

    The folder is private (0700): a model folder may hold an HMAC secret's neighbours and learned
    weights of user features. The swap never leaves `path` without a complete model (safeio.atomic).
    """
    final = Path(path)
    check_model_target(final)
    with atomic_dir(final, mode=0o700) as tmp:
        if write_files is not None:
            write_files(tmp)
        (tmp / METADATA).write_text(json.dumps({"schema": MODEL_SCHEMA, **metadata}, indent=1), "utf-8")
    return final


def check_model_target(path: str | os.PathLike) -> None:
    """Refuse to save a model over anything but a new or empty folder or an earlier model folder
    holding only what a save writes (safeio.outdir's rule, with metadata.json as the marker): the
    swap replaces the whole folder, so a user's file in it, or a stranger's folder, would be lost.
    A one-line BanditError naming the folder (and the first foreign entry); nothing is changed."""
    folder = Path(path)
    recover_dir(folder)  # a save killed mid-swap: put the previous model back first
    if not folder.exists():
        return
    if not folder.is_dir():
        raise BanditError(f"{folder}: exists and is not a folder; nothing was changed")
    entries = sorted(p.name for p in folder.iterdir())
    if not entries:
        return
    try:
        meta = json.loads((folder / METADATA).read_text("utf-8"))
    except (OSError, ValueError):
        meta = None
    if not isinstance(meta, dict) or meta.get("schema") != MODEL_SCHEMA:
        raise BanditError(
            f"{folder}: exists and is not an artbandit model folder; nothing was changed (choose a new or empty folder)"
        )
    foreign = [name for name in entries if not _MODEL_ENTRY.match(name)]
    if foreign:
        raise BanditError(
            f"{folder}: holds {foreign[0]!r}, which artbandit did not write; nothing was "
            "changed (move it out, or choose a new or empty folder)"
        )


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a saved model folder; BanditError naming the folder if it is not one."""
    folder = Path(path)
    meta_file = folder / METADATA
    recover_dir(folder)  # a save killed mid-swap: put the previous model back, drop its leftovers
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


# -- verifying what is loaded ------------------------------------------------------------------
MODEL_CHECKSUM = "model_sha256"
# exploration -> the flag VW records for it (epsilon-greedy is cb_explore_adf without another one)
_EXPLORATION_FLAGS = {"squarecb": "--squarecb", "softmax": "--softmax", "bag": "--bag", "cover": "--cover"}
# run-time flags VW reports that say nothing about the model itself
_RUNTIME_FLAGS = {"--quiet": 0, "--no_predict": 0, "--no_stdin": 0, "--random_seed": 1, "--initial_regressor": 1}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(meta: dict[str, Any], model_file: Path) -> None:
    """A model file that is not byte for byte the one saved (truncated, swapped) is refused."""
    expected = meta.get(MODEL_CHECKSUM)
    if not isinstance(expected, str):
        raise BanditError(
            f"{model_file.parent}: metadata.json records no checksum of {model_file.name}; cannot verify the model"
        )
    if file_sha256(model_file) != expected:
        raise BanditError(f"{model_file}: does not match the checksum in metadata.json (truncated or replaced)")


def argument_tokens(vw: Any) -> list[str]:
    """VW's record of a workspace's arguments as tokens. VW reports them as one string, so the path
    of the model file it was opened from (`--initial_regressor`, which may contain spaces) is put
    back as one token; bandit.policies.vw.open_model_file records that path on the workspace."""
    text = str(vw.get_arguments())
    path = getattr(vw, "model_file", None)
    if path is None:
        return text.split()
    before, found, after = text.partition(f"--initial_regressor {path}")
    if not found:
        return text.split()
    return before.split() + ["--initial_regressor", path] + after.split()


def model_args(vw: Any) -> str:
    """VW's own record of a workspace's learning arguments, without run-time flags."""
    tokens = argument_tokens(vw)
    out, i = [], 0
    while i < len(tokens):
        skip = _RUNTIME_FLAGS.get(tokens[i])
        if skip is None:
            out.append(tokens[i])
            i += 1
        else:
            i += 1 + skip
    return " ".join(out)


def check_model_args(vw: Any, meta: dict[str, Any], exploration: Any, path: Any) -> None:
    """The loaded model must be a cb_explore_adf model with the arguments recorded at save time and
    the exploration metadata.json names (an epsilon model in a squarecb folder is refused)."""
    import vowpalwabbit

    args = model_args(vw)
    flags = set(args.split())
    if int(vw.get_label_type()) != int(vowpalwabbit.LabelType.CONTEXTUAL_BANDIT) or "--cb_explore_adf" not in flags:
        raise BanditError(f"{path}: model.vw is not a contextual-bandit (cb_explore_adf) model")
    recorded = meta.get("vw_model_args")
    if recorded != args:
        raise BanditError(f"{path}: model.vw was trained with other VW arguments than metadata.json records")
    wanted = _EXPLORATION_FLAGS.get(str(exploration))
    others = set(_EXPLORATION_FLAGS.values()) - {wanted}
    if (wanted is not None and wanted not in flags) or flags & others:
        raise BanditError(f"{path}: model.vw does not use the exploration {exploration!r} metadata.json names")


def saved_options(meta: dict[str, Any], path: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The learning options of metadata.json; any other key (log, secret, ...) is refused, since
    run-time options come from the caller, never from a file."""
    options = meta.get("options")
    if not isinstance(options, dict):
        raise BanditError(f"{path}: metadata.json has no options object")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise BanditError(f"{path}: metadata.json sets {', '.join(map(repr, unknown))}, which only the caller may set")
    options = dict(options)
    if "exploration_budget" in allowed:
        # saved before exploration was priced per decision: the per-candidate floor it learned with
        options.setdefault("exploration_budget", None)
    if "exploration_decay" in allowed:
        # saved before the budget settled with experience: a floor that stays
        options.setdefault("exploration_decay", None)
    return options


def without_fixed(
    overrides: dict[str, Any], options: dict[str, Any], fixed: tuple[str, ...], path: Any
) -> dict[str, Any]:
    """`overrides` minus the options a saved model fixes; a different value for one of them is refused
    (a model cannot be loaded as another algorithm), the same value is accepted and dropped."""
    for key in fixed:
        if key in overrides and overrides[key] != options.get(key):
            raise BanditError(f"{path}: option {key!r} is fixed by the saved model")
    return {k: v for k, v in overrides.items() if k not in fixed}


def read_arrays(path: str | os.PathLike, names: Collection[str], max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` a save wrote (np.savez), read without trusting it: a model folder or
    an uploaded export may be hostile, and numpy would inflate a compressed member, or allocate what
    an array's header claims, before any shape check. Refused (ValueError) before anything large is
    read: a member not in `names`, more than `max_bytes` uncompressed in all, an object array, or a
    header claiming more elements than its member's bytes hold."""
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if sum(info.file_size for info in infos) > max_bytes:
                raise ValueError(f"its arrays hold more than {max_bytes:,} bytes")
            for info in infos:
                name = info.filename.removesuffix(".npy")
                if name not in names or not info.filename.endswith(".npy") or name in out:
                    raise ValueError(f"an unexpected member {info.filename[:80]!r}")
                with z.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = header(fh)
                if dtype.hasobject:
                    raise ValueError(f"array {name!r} is an object array")
                if int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
                    raise ValueError(f"array {name!r} claims more than it holds")
                with z.open(info) as fh:
                    out[name] = np.lib.format.read_array(fh, allow_pickle=False)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a readable archive ({exc})") from None
    return out
