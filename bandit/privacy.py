"""Keyed hashing of user ids, so that no raw id ever reaches the event log.

The secret (HMAC-SHA256 key) comes, in order, from: the `secret=` argument, the ARTBANDIT_SECRET
environment variable, or a key file -- ARTBANDIT_SECRET_FILE if set, else
~/.config/artbandit/secret.key -- created with 0600 permissions if absent. The key never goes into
the log or the model, so a leaked log cannot be joined back to user ids by re-hashing guesses.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from bandit.errors import BanditError

ENV_SECRET = "ARTBANDIT_SECRET"
ENV_SECRET_FILE = "ARTBANDIT_SECRET_FILE"


def default_key_file() -> Path:
    """Where the key lives when neither an argument nor ARTBANDIT_SECRET gives one."""
    env = os.environ.get(ENV_SECRET_FILE)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "artbandit" / "secret.key"


def resolve_secret(secret: str | bytes | None = None) -> bytes:
    """The HMAC key: argument, then env var, then the key file (created 0600 if missing)."""
    if secret is not None:
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    elif os.environ.get(ENV_SECRET):
        key = os.environ[ENV_SECRET].encode("utf-8")
    else:
        key = _key_from_file(default_key_file())
    if len(key) < 16:
        raise BanditError("the user-id hashing secret must be at least 16 bytes long")
    return key


def _key_from_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32).encode("ascii")
    try:  # O_EXCL: two processes racing both end up with the winner's key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


class UserHasher:
    """HMAC-SHA256(user_id) truncated to 128 bits (hex); the key is resolved on first use."""

    def __init__(self, secret: str | bytes | None = None) -> None:
        self._secret = secret
        self._key: bytes | None = None
        self._cache: dict[str, str] = {}  # viewers come back: hash each once (in memory only)

    def __call__(self, user_id: str) -> str:
        out = self._cache.get(user_id)
        if out is not None:
            return out
        if self._key is None:
            self._key = resolve_secret(self._secret)
        text = user_id if isinstance(user_id, str) else str(user_id)
        out = hmac.digest(self._key, text.encode("utf-8"), hashlib.sha256).hex()[:32]
        if len(self._cache) >= 100_000:
            self._cache.clear()
        self._cache[user_id] = out
        return out
