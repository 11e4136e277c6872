"""One-file model export/import for the decision service (GET/PUT /model).

Format: a magic line, one JSON header line, then the saved model's files, one after another:
    ARTBANDIT-MODEL/2\\n{"metadata": {...}, "files": [["model.vw", size], ...], "sha256": "..."}\\n<bytes>
A Personalizer has one model file (`model.vw`), a `vw:select` policy one per regression
(`model0.vw`, `model1.vw`, ...). `sha256` covers the metadata, the file list (canonical JSON) and the
bytes, so a truncated or edited upload is refused before VW reads it; file names are checked against
the names artbandit writes. After VW loads the files, the options VW stored in every model are checked
against what artbandit itself builds (bandit.service.config.check_model_flags): a model file cannot
smuggle in options that read or write files. Import takes bytes only, never a path on the server.
Exports of the first format (`ARTBANDIT-MODEL/1`, one Personalizer model) still import.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from bandit.errors import BanditError
from bandit.policies.base import Policy
from bandit.policies.model_io import METADATA, MODEL_SCHEMA, argument_tokens
from bandit.policies.specs import load_saved_policy
from bandit.policies.vw import MODEL_FILE
from bandit.service.config import check_model_flags

MAGIC = b"ARTBANDIT-MODEL/2\n"
MAGIC_V1 = b"ARTBANDIT-MODEL/1\n"  # one model.vw, digest over metadata + bytes
MAX_HEADER = 4 << 20
MAX_FILES = 16
# model.vw, model0.vw ... and vw:select's ridge member's ridge.npz (bandit.policies.personalizer)
MODEL_NAME = re.compile(r"^(model[0-9]{0,2}\.vw|ridge\.npz)\Z")


def _digest(metadata: dict[str, Any], files: list | None, model: bytes) -> str:
    # the standard library: the metadata holds 128-bit integers (generator states) orjson refuses
    covered: Any = metadata if files is None else {"metadata": metadata, "files": files}
    h = hashlib.sha256(json.dumps(covered, sort_keys=True, separators=(",", ":")).encode())
    h.update(model)
    return h.hexdigest()


def export_model(policy: Policy) -> bytes:
    """The policy (a Personalizer or `vw:select`) as one self-checking blob."""
    with tempfile.TemporaryDirectory(prefix="artbandit-export-") as tmp:
        folder = Path(tmp) / "model"
        policy.save(folder)
        metadata = json.loads((folder / METADATA).read_text("utf-8"))
        names = sorted(p.name for p in folder.iterdir() if MODEL_NAME.match(p.name))
        parts = [(folder / name).read_bytes() for name in names]
    files = [[name, len(part)] for name, part in zip(names, parts)]
    model = b"".join(parts)
    header = {"metadata": metadata, "files": files, "sha256": _digest(metadata, files, model)}
    return MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + model


def checksum(blob: bytes) -> str:
    """The sha256 an exported blob's header carries (for /model/properties)."""
    return _split(blob)[1]["sha256"]


def _split(blob: bytes) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    magic = MAGIC if blob.startswith(MAGIC) else MAGIC_V1 if blob.startswith(MAGIC_V1) else None
    if magic is None:
        raise BanditError("not a model exported by artbandit (missing ARTBANDIT-MODEL header)")
    end = blob.find(b"\n", len(magic), len(magic) + MAX_HEADER)
    if end < 0:
        raise BanditError("model export header is missing or too long")
    try:
        header = json.loads(blob[len(magic) : end])
    except (ValueError, RecursionError):
        raise BanditError("model export header is not valid JSON") from None
    if (
        not isinstance(header, dict)
        or not isinstance(header.get("metadata"), dict)
        or not isinstance(header.get("sha256"), str)
    ):
        raise BanditError("model export header lacks metadata or checksum")
    if magic == MAGIC_V1:
        header = {**header, "files": None}
    elif not _files_ok(header.get("files")):
        raise BanditError(
            f"model export header lists no model files, or files artbandit never writes "
            f"(at most {MAX_FILES}, named model.vw or modelN.vw)"
        )
    return header["metadata"], header, blob[end + 1 :]


def _files_ok(files: Any) -> bool:
    if not isinstance(files, list) or not 0 < len(files) <= MAX_FILES:
        return False
    names = set()
    for entry in files:
        if not (
            isinstance(entry, list)
            and len(entry) == 2
            and isinstance(entry[0], str)
            and MODEL_NAME.match(entry[0])
            and type(entry[1]) is int
            and entry[1] >= 0
        ):
            return False
        names.add(entry[0])
    return len(names) == len(files)


def import_model(blob: bytes, **overrides: Any) -> Policy:
    """The policy in an exported blob, after checking its checksum and every model's stored VW options."""
    metadata, header, model = _split(blob)
    files = header["files"]
    if _digest(metadata, files, model) != header["sha256"]:
        raise BanditError("model checksum does not match: the upload is damaged or was edited")
    if metadata.get("schema") != MODEL_SCHEMA or not str(metadata.get("policy", "")).startswith("vw:"):
        raise BanditError("not an artbandit VW model export")
    if files is None:
        files = [[MODEL_FILE, len(model)]]
    if sum(size for _, size in files) != len(model):
        raise BanditError("model export is truncated or has bytes its header does not list")
    with tempfile.TemporaryDirectory(prefix="artbandit-import-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir(mode=0o700)
        at = 0
        for name, size in files:
            (folder / name).write_bytes(model[at : at + size])
            at += size
        (folder / METADATA).write_text(json.dumps(metadata), "utf-8")
        try:
            policy = load_saved_policy(folder, **overrides)
        except (KeyError, TypeError, ValueError) as exc:
            raise BanditError(f"model export metadata is incomplete ({exc})") from None
        except BanditError as exc:  # name the export's files, not the server's temporary folder
            raise BanditError(str(exc).replace(f"{folder}/", "").replace(str(folder), "the export")) from None
    for vw in policy.workspaces():  # type: ignore[attr-defined]
        check_model_flags(argument_tokens(vw))
    return policy
