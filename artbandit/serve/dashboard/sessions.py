"""Dashboard sessions: the service key, typed once into a login form, becomes a signed session token.

Why not the key itself in a cookie or a URL: a URL lands in proxy logs and browser history, and a
cookie holding the key would hand it to anything that reads cookies. The token is its expiry, 128
random bits from the OS and an HMAC-SHA256 of both under a secret derived from the service key; the
cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's page can make the
browser send it). The key is compared in constant time.

Why signed and not a server-side table: with `serve --workers N` every request may reach another
ranker process (a browser opens several connections), and each ranker derives the same secret from
the same key, so a session opened on one is valid on all, with nothing to share between them.
Nothing about live sessions is kept in memory. A logout is remembered as the token's SHA-256 until
its expiry by the process that answered it and, with rankers, in the event stream's store
(`SharedLogouts`), which every ranker reads when a logged-out token comes back: a copied cookie is
refused everywhere, not only by the ranker that saw the logout. The browser's cookie is deleted.
Changing the service key ends every session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import threading
import time
from typing import Callable

COOKIE = "artbandit_session"
TTL_S = 8 * 3600.0
MAX_LOGOUTS = 10_000  # logouts remembered before the secret is rotated (every session then ends)
_CONTEXT = b"artbandit dashboard session v1"
log = logging.getLogger("artbandit.serve")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SharedLogouts:
    """Logouts every ranker sees: one small entry per logged-out token in the event stream's store
    (`put`/`get`/`drop`: the stream's upload store), named by the token's digest, so two rankers
    logging out at once never overwrite each other. A process drops the entries it wrote once their
    tokens have expired; one that stops first leaves a few dozen bytes per logout behind."""

    PREFIX = "dashboard-logout-"

    def __init__(
        self,
        put: Callable[[str, bytes], None],
        get: Callable[[str], bytes | None],
        drop: Callable[[str], None],
    ) -> None:
        self.put, self.get, self.drop = put, get, drop

    def name(self, digest: bytes) -> str:
        return self.PREFIX + digest.hex()


class Sessions:
    """Issue and check signed session tokens (see the module docstring)."""

    def __init__(
        self,
        key: bytes | None,
        *,
        ttl_s: float = TTL_S,
        max_logouts: int = MAX_LOGOUTS,
        shared: SharedLogouts | None = None,
    ) -> None:
        self.key = key
        self.ttl_s = float(ttl_s)
        self.max_logouts = int(max_logouts)
        self.shared = shared
        self._secret = hmac.new(key or b"", _CONTEXT, hashlib.sha256).digest()
        self._logouts: dict[bytes, float] = {}  # token digest -> its expiry
        self._lock = threading.Lock()

    def key_matches(self, given: str) -> bool:
        """Constant-time comparison with the service key (always True when serving without one)."""
        if self.key is None:
            return True
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.key)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def open(self, now: float | None = None) -> str:
        """A new session token (after a correct key)."""
        now = time.time() if now is None else now
        payload = f"{int(now + self.ttl_s)}.{_b64(secrets.token_bytes(16))}"
        return f"{payload}.{self._mac(payload)}"

    def valid(self, token: str | None, now: float | None = None) -> bool:
        """Whether a cookie's token is a live session (every request checks; no key: always)."""
        if self.key is None:
            return True
        if not token or len(token) > 200:
            return False
        payload, _, mac = token.rpartition(".")
        expiry, _, _ = payload.partition(".")
        if not expiry.isdigit() or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return False
        now = time.time() if now is None else now
        if int(expiry) <= now:
            return False
        digest = _digest(token)
        with self._lock:
            if digest in self._logouts:
                return False
        if self.shared is not None:
            try:
                return self.shared.get(self.shared.name(digest)) is None
            except Exception:  # noqa: BLE001 - the store is away: the signature and expiry decide
                return True
        return True

    def close(self, token: str | None, now: float | None = None) -> None:
        """Log out: the token is refused from now on by this process."""
        if not self.valid(token, now) or token is None:
            return
        now = time.time() if now is None else now
        digest, expiry = _digest(token), float(token.partition(".")[0])
        with self._lock:
            expired = [k for k, exp in self._logouts.items() if exp <= now]
            for k in expired:
                del self._logouts[k]  # expired tokens are refused by their expiry anyway
            rotate = len(self._logouts) >= self.max_logouts
            if rotate:
                # too many to remember: a new secret ends every session, the logged-out ones included
                self._secret = hmac.new(self._secret, secrets.token_bytes(32), hashlib.sha256).digest()
                self._logouts.clear()
            else:
                self._logouts[digest] = expiry
        shared = self.shared
        if shared is None:
            return
        try:
            if not rotate:  # (a rotation is this process's own: the shared entry is what others read)
                shared.put(shared.name(digest), str(int(expiry)).encode())
            for k in expired:
                shared.drop(shared.name(k))
        except Exception:  # noqa: BLE001 - the store is away: this process still refuses the token
            log.warning("dashboard logout not shared with the other rankers (the event stream is away)")
