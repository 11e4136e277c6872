"""uvicorn's HTTP protocol with a deadline and a size limit on request headers (slowloris).

Why: uvicorn times out idle keep-alive connections (`timeout_keep_alive`) but never a connection
that is still sending its request line and headers: a client sending one byte every few seconds
held its socket (and a file descriptor) for ever (441 of 500 such sockets were still open after
40 s). uvicorn offers no header-read timeout, so this subclass of its httptools protocol arms a timer
when a connection opens and when each request begins, and closes the connection if the headers are
not complete in HEADER_TIMEOUT_S (`--header-timeout`); headers over MAX_HEADER_BYTES get a 400. Bodies are bounded by the
Gate's body limit, not by time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 64 * 1024
KEEP_ALIVE_S = 5


def guarded_protocol(header_timeout_s: float = HEADER_TIMEOUT_S) -> type:
    """The protocol class for uvicorn's `http=` setting, with this header deadline."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"header_timeout_s": float(header_timeout_s)})


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus a header deadline and a header size limit."""

    header_timeout_s = HEADER_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._in_headers = False

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._in_headers = True
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_deadline_passed)

    def _disarm_header_deadline(self) -> None:
        self._in_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_deadline_passed(self) -> None:
        self._header_timer = None
        if self._in_headers and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()  # the first request's headers must arrive in time too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # still in the headers after parsing this chunk: everything counted so far was header bytes
        # (a chunk that completes them may carry any amount of body, which is not counted)
        if self._in_headers and self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self._disarm_header_deadline()
            self.send_400_response("Request headers too large")

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count_header_bytes(self, n: int) -> None:
        """Headers parsed within one chunk are counted here (the chunk check cannot see them);
        raising from a parser callback makes uvicorn answer 400 and close the connection."""
        self._parsed_header_bytes += n
        if self._parsed_header_bytes > MAX_HEADER_BYTES:
            raise ValueError("request headers too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        super().on_headers_complete()
