"""Keyed hashing of user ids, so that no raw id ever reaches the event log.

The secret (HMAC-SHA256 key) comes, in order, from: the `secret=` argument, the ARTBANDIT_SECRET
environment variable, or a key file -- ARTBANDIT_SECRET_FILE if set, else
~/.config/artbandit/secret.key -- created atomically with 0600 permissions if absent. A key file
other users may read or write is refused (anyone who can read it can re-hash guessed user ids). The key never goes into
the log or the model, so a leaked log cannot be joined back to user ids by re-hashing guesses.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import tempfile
from pathlib import Path

from bandit.cache import TextCache
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
        if not isinstance(secret, (str, bytes, bytearray)):  # bytes(123) would be 123 zero bytes
            raise BanditError(f"secret must be a string or bytes, got {type(secret).__name__}")
        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    elif os.environ.get(ENV_SECRET):
        key = os.environ[ENV_SECRET].encode("utf-8")
    else:
        key = _key_from_file(default_key_file())
    if len(key) < 16:
        raise BanditError("the user-id hashing secret must be at least 16 bytes long")
    return key


def _key_from_file(path: Path) -> bytes:
    """The key in `path`, created on first use. Creation is atomic: the key is written whole to a
    private temporary file and hard-linked to `path` (which fails if another process got there
    first), so concurrent first uses all read one complete key. A key that cannot be read or made
    (an unwritable or missing config home, a folder in the way) is a one-line BanditError naming
    the ways to give one."""
    try:
        try:
            return _read_key(path)
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # 0600
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_hex(32).encode("ascii"))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
        return _read_key(path)
    except OSError as exc:
        raise BanditError(
            f"{path}: cannot read or create the user-id hashing key ({exc.strerror or exc}); "
            f"set {ENV_SECRET_FILE} to a writable file path, or {ENV_SECRET} (or secret=) to a secret "
            "of at least 16 bytes"
        ) from None


def _read_key(path: Path) -> bytes:
    """A key file only its owner can read or write; anything else is refused, not used."""
    st = path.stat()
    if st.st_mode & 0o077:
        raise BanditError(
            f"{path}: the user-id hashing key is accessible to other users "
            f"(mode {stat.S_IMODE(st.st_mode):o}); run: chmod 600 {path}"
        )
    if st.st_uid != os.getuid():
        raise BanditError(f"{path}: the user-id hashing key belongs to another user")
    return path.read_bytes().strip()


class UserHasher:
    """HMAC-SHA256(user_id) truncated to 128 bits (hex); the key is resolved on first use."""

    def __init__(self, secret: str | bytes | None = None) -> None:
        self._secret = secret
        self._key: bytes | None = None
        # the keyed hash's state after the key, copied for every new user id (the key is not
        # re-hashed per id): the same digest as hmac.digest, at about a third of its cost
        self._keyed: "hmac.HMAC | None" = None
        self._cache = TextCache(100_000, 8_000_000)  # viewers come back: hash each once (in memory only)

    def __call__(self, user_id: str) -> str:
        if type(user_id) is not str and (isinstance(user_id, bool) or not isinstance(user_id, (str, int))):
            raise BanditError(
                f"user_id must be a string (or an integer), got {type(user_id).__name__}; pass the viewer's id as text"
            )
        out = self._cache.get(user_id)
        if out is not None:
            return out
        keyed = self._keyed
        if keyed is None:
            if self._key is None:
                self._key = resolve_secret(self._secret)
            keyed = self._keyed = hmac.new(self._key, digestmod=hashlib.sha256)
        text = user_id if isinstance(user_id, str) else str(user_id)
        h = keyed.copy()
        h.update(text.encode("utf-8"))
        out = h.hexdigest()[:32]
        self._cache.put(user_id, out, len(text) + 96)
        return out
