"""Dashboard sessions: the service key, typed once into a login form, becomes a random session token.

Why not the key itself in a cookie or a URL: a URL lands in proxy logs and browser history, and a
cookie holding the key would hand it to anything that reads cookies. The token is 256 random bits
from the OS, held server-side (as its SHA-256, so a memory dump of the table is not a set of live
cookies) with an absolute expiry; the cookie is HttpOnly (no script reads it) and SameSite=Strict
(no other site's page can make the browser send it). The key is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

COOKIE = "artbandit_session"
TTL_S = 8 * 3600.0
MAX_SESSIONS = 1000


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


class Sessions:
    """Tokens -> expiry, bounded (the oldest session goes first when MAX_SESSIONS are open)."""

    def __init__(self, key: bytes | None, *, ttl_s: float = TTL_S, max_sessions: int = MAX_SESSIONS) -> None:
        self.key = key
        self.ttl_s = float(ttl_s)
        self.max_sessions = int(max_sessions)
        self._live: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def key_matches(self, given: str) -> bool:
        """Constant-time comparison with the service key (always True when serving without one)."""
        if self.key is None:
            return True
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.key)

    def open(self, now: float | None = None) -> str:
        """A new session token (after a correct key)."""
        now = time.time() if now is None else now
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._prune(now)
            while len(self._live) >= self.max_sessions:
                self._live.pop(next(iter(self._live)))
            self._live[_digest(token)] = now + self.ttl_s
        return token

    def valid(self, token: str | None, now: float | None = None) -> bool:
        """Whether a cookie's token is a live session (every request checks; no key: always)."""
        if self.key is None:
            return True
        if not token:
            return False
        now = time.time() if now is None else now
        with self._lock:
            expiry = self._live.get(_digest(token))
            if expiry is None:
                return False
            if expiry <= now:
                del self._live[_digest(token)]
                return False
            return True

    def close(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._live.pop(_digest(token), None)

    def _prune(self, now: float) -> None:
        for k in [k for k, exp in self._live.items() if exp <= now]:
            del self._live[k]
