"""One-file model export/import for the decision service (GET/PUT /model).

Format: a magic line, one JSON header line, then VW's model bytes:
    ARTBANDIT-MODEL/1\\n{"metadata": {...}, "sha256": "..."}\\n<model bytes>
`sha256` covers the metadata (canonical JSON) and the model bytes, so a truncated or edited upload is
refused before VW reads it. After VW loads the bytes, the options VW stored in the model are checked
against what artbandit itself builds (bandit.service_config.check_model_flags): a model file cannot
smuggle in options that read or write files. Import takes bytes only, never a path on the server.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from bandit.errors import BanditError
from bandit.model_io import METADATA, MODEL_SCHEMA, argument_tokens
from bandit.service_config import check_model_flags
from bandit.vw_policy import MODEL_FILE, Personalizer

MAGIC = b"ARTBANDIT-MODEL/1\n"
MAX_HEADER = 4 << 20


def _digest(metadata: dict[str, Any], model: bytes) -> str:
    # the standard library: the metadata holds 128-bit integers (generator states) orjson refuses
    h = hashlib.sha256(json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode())
    h.update(model)
    return h.hexdigest()


def export_model(policy: Personalizer) -> bytes:
    """The policy as one self-checking blob."""
    with tempfile.TemporaryDirectory(prefix="artbandit-export-") as tmp:
        folder = Path(tmp) / "model"
        policy.save(folder)
        metadata = json.loads((folder / METADATA).read_text("utf-8"))
        model = (folder / MODEL_FILE).read_bytes()
    header = json.dumps({"metadata": metadata, "sha256": _digest(metadata, model)}, separators=(",", ":")).encode()
    return MAGIC + header + b"\n" + model


def checksum(blob: bytes) -> str:
    """The sha256 an exported blob's header carries (for /model/properties)."""
    _, header, _ = _split(blob)
    return header["sha256"]


def _split(blob: bytes) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    if not blob.startswith(MAGIC):
        raise BanditError("not a model exported by artbandit (missing ARTBANDIT-MODEL header)")
    end = blob.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER)
    if end < 0:
        raise BanditError("model export header is missing or too long")
    try:
        header = json.loads(blob[len(MAGIC):end])
    except (ValueError, RecursionError):
        raise BanditError("model export header is not valid JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("metadata"), dict) \
            or not isinstance(header.get("sha256"), str):
        raise BanditError("model export header lacks metadata or checksum")
    return header["metadata"], header, blob[end + 1:]


def import_model(blob: bytes, **overrides: Any) -> Personalizer:
    """A Personalizer from an exported blob, after checking its checksum and stored VW options."""
    metadata, header, model = _split(blob)
    if _digest(metadata, model) != header["sha256"]:
        raise BanditError("model checksum does not match: the upload is damaged or was edited")
    if metadata.get("schema") != MODEL_SCHEMA or not str(metadata.get("policy", "")).startswith("vw:"):
        raise BanditError("not an artbandit VW model export")
    with tempfile.TemporaryDirectory(prefix="artbandit-import-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir(mode=0o700)
        (folder / MODEL_FILE).write_bytes(model)
        (folder / METADATA).write_text(json.dumps(metadata), "utf-8")
        try:
            policy = Personalizer.load(folder, **overrides)
        except (KeyError, TypeError, ValueError) as exc:
            raise BanditError(f"model export metadata is incomplete ({exc})") from None
    check_model_flags(argument_tokens(policy._vw))
    return policy
