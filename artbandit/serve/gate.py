"""The front door of `artbandit serve`, as one plain ASGI middleware (cheaper than a stack of them).

In order, for every HTTP request:
1. versions: `/personalizer/v1.0/<op>` is served as `/personalizer/<op>`; the unversioned form needs
   an `api-version` query parameter, as Personalizer's newer SDKs send;
2. the key: `Ocp-Apim-Subscription-Key` compared in constant time (hmac.compare_digest); a wrong or
   missing key gets 401 with Personalizer's error body. `/status`, `/docs` (and its `/docs/static/` assets)
   and `/openapi.json` are open;
   `/dashboard` checks its own session cookie instead (a browser cannot send the key header);
3. the body: read whole, at most `max_body` bytes (`max_model` for PUT /model), else 413, so no
   handler ever sees an unbounded upload;
4. the hot routes (POST rank and reward) go to artbandit.serve.fastlane, everything else to FastAPI;
5. timing and status for /metrics.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import Any, Awaitable, Callable

import orjson

from artbandit.serve.fastlane import FastLane
from artbandit.serve.metrics import Metrics
from bandit.service.wire import error_json

BASE = "/personalizer"
VERSIONED = re.compile(r"/personalizer/v1\.0(/.*)\Z")  # \Z, not $ (which matches before a final newline)
OPEN_PATHS = {"/status", "/docs", "/openapi.json", "/docs/oauth2-redirect"}
DASHBOARD = "/dashboard"  # artbandit.serve.dashboard: session cookies, checked by its routes
_EVENT = re.compile(r"/events/[^/]+/")


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps(error_json(code, message))


async def send_error(send: Callable, status: int, code: str, message: str) -> None:
    body = error_body(code, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def route_label(method: str, path: str) -> str:
    """A low-cardinality name for a request (event ids removed) for the metrics."""
    return f"{method} {_EVENT.sub('/events/{id}/', path)}"


class Gate:
    def __init__(
        self,
        app: Any,
        *,
        key: bytes | None,
        max_body: int,
        max_model: int,
        metrics: Metrics,
        lane: FastLane | None = None,
    ) -> None:
        self.app = app
        self.lane = lane
        self.key = key
        self.max_body = max_body
        self.max_model = max_model
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        status_box = [500]

        async def timed_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, timed_send, path, method)
        finally:
            self.metrics.observe(
                route_label(method, scope.get("path", path)), status_box[0], time.perf_counter() - started
            )

    async def _handle(self, scope: dict, receive: Callable, send: Callable, path: str, method: str) -> None:
        if path.startswith(BASE):
            match = VERSIONED.match(path)
            if match:
                path = BASE + match.group(1)
            elif b"api-version=" not in scope.get("query_string", b""):
                await send_error(
                    send, 400, "BadRequest", "unversioned paths need ?api-version=... (or use /personalizer/v1.0/...)"
                )
                return
            scope = {**scope, "path": path, "raw_path": path.encode()}
        if (
            self.key is not None
            and path not in OPEN_PATHS
            and not (path == DASHBOARD or path.startswith(DASHBOARD + "/") or path.startswith("/docs/static/"))
        ):
            given = b""
            for name, value in scope["headers"]:
                if name == b"ocp-apim-subscription-key":
                    given = value
                    break
            if not hmac.compare_digest(given, self.key):
                await send_error(
                    send, 401, "401", "Access denied due to invalid subscription key or wrong API endpoint."
                )
                return
        if method in ("POST", "PUT", "PATCH"):
            limit = self.max_model if path.endswith("/model") else self.max_body
            for name, value in scope["headers"]:
                if name == b"content-length":
                    try:
                        declared = int(value)
                    except ValueError:
                        declared = -1
                    if declared < 0 or declared > limit:
                        await send_error(send, 413, "PayloadTooLarge", f"request body over {limit} bytes")
                        return
            chunks = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await send_error(send, 413, "PayloadTooLarge", f"request body over {limit} bytes")
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            lane = self.lane
            hot = lane.route(method, path) if lane is not None else None
            if lane is not None and hot is not None:
                await lane.answer(hot, body, send, path)
                return
            delivered = False

            async def replay() -> dict:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            scope["state"] = {**scope.get("state", {}), "body": body}
            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)
