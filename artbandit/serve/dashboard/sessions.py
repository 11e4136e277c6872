"""Dashboard sessions: the service key, typed once into a login form, becomes a signed session token.

Why not the key itself in a cookie or a URL: a URL lands in proxy logs and browser history, and a
cookie holding the key would hand it to anything that reads cookies. The token is its expiry, 128
random bits from the OS and an HMAC-SHA256 of both under a secret derived from the service key; the
cookie is HttpOnly (no script reads it) and SameSite=Strict (no other site's page can make the
browser send it). The key is compared in constant time.

Why signed and not a server-side table: with `serve --workers N` every request may reach another
ranker process (a browser opens several connections), and each ranker derives the same secret from
the same key, so a session opened on one is valid on all, with nothing to share between them.
Nothing about live sessions is kept in memory; a logout is remembered (as the token's SHA-256, until
its expiry) by the process that answered it, and the browser's cookie is deleted. Changing the
service key ends every session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time

COOKIE = "artbandit_session"
TTL_S = 8 * 3600.0
MAX_LOGOUTS = 10_000  # logouts remembered before the secret is rotated (every session then ends)
_CONTEXT = b"artbandit dashboard session v1"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Sessions:
    """Issue and check signed session tokens (see the module docstring)."""

    def __init__(self, key: bytes | None, *, ttl_s: float = TTL_S, max_logouts: int = MAX_LOGOUTS) -> None:
        self.key = key
        self.ttl_s = float(ttl_s)
        self.max_logouts = int(max_logouts)
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
        with self._lock:
            return _digest(token) not in self._logouts

    def close(self, token: str | None, now: float | None = None) -> None:
        """Log out: the token is refused from now on by this process."""
        if not self.valid(token, now) or token is None:
            return
        now = time.time() if now is None else now
        with self._lock:
            for k in [k for k, exp in self._logouts.items() if exp <= now]:
                del self._logouts[k]  # expired tokens are refused by their expiry anyway
            if len(self._logouts) >= self.max_logouts:
                # too many to remember: a new secret ends every session, the logged-out ones included
                self._secret = hmac.new(self._secret, secrets.token_bytes(32), hashlib.sha256).digest()
                self._logouts.clear()
                return
            self._logouts[_digest(token)] = float(token.partition(".")[0])
