"""The hot routes (POST rank, POST reward) answered straight from the Gate, past FastAPI's routing.

Why: measured in a ranker under 64 clients (cProfile, 2026-12-07), FastAPI's per-request machinery
(matching the path against every route of the API, the docs and the dashboard, solving the
`Depends(state)` dependency, building a Request, its exception and telemetry middlewares) cost more
CPU than the rank itself: about 0.2 ms of a 0.65 ms rank+reward pair. These two routes are nearly
all the traffic, so the Gate hands them here once it has checked the key and read the body. The
answer is the route's own function (artbandit.serve.routes.rank.rank_answer, .events.reward_answer)
and errors go through the app's own table (artbandit.serve.app.ERRORS), so status codes, bodies and
headers are those of the FastAPI route; every other path, and any other method, still goes to FastAPI.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from fastapi.responses import Response

from artbandit.serve.deps import PERSONALIZER, ServeState, error
from artbandit.serve.routes.events import reward_answer
from artbandit.serve.routes.rank import rank_answer

log = logging.getLogger("artbandit.serve")

RANK = PERSONALIZER + "/rank"
_REWARD = re.compile(re.escape(PERSONALIZER) + r"/events/([^/]+)/reward\Z")  # FastAPI's {event_id}: [^/]+


class FastLane:
    """Answers POST /rank and POST /events/{eventId}/reward for the Gate (see the module docstring)."""

    def __init__(self, st: ServeState, errors: tuple[tuple[type[Exception], int, str], ...]) -> None:
        self.st = st
        self.errors = errors

    def route(self, method: str, path: str) -> Callable[[bytes], Awaitable[Response]] | None:
        """The handler of a hot route (the versionless path), or None: FastAPI serves it."""
        if method != "POST":
            return None
        if path == RANK:
            return lambda raw: rank_answer(self.st, raw)
        match = _REWARD.match(path)
        if match is not None:
            event_id = match.group(1)
            return lambda raw: reward_answer(self.st, event_id, raw)
        return None

    async def answer(
        self, handler: Callable[[bytes], Awaitable[Response]], raw: bytes, send: Callable, path: str = ""
    ) -> None:
        """Run a hot route's handler on the body and send its answer (or the app's error answer)."""
        try:
            response = await handler(raw)
        except Exception as exc:  # noqa: BLE001 - the app's table, as its exception handlers answer
            response = self.error_response(exc, path)
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})

    def error_response(self, exc: Exception, path: str = "") -> Response:
        """The app's answer to an exception (artbandit.serve.app's table; anything else: a logged 500)."""
        for kind, status, code in self.errors:
            if isinstance(exc, kind):
                return error(status, code, str(exc))
        log.error("internal error on POST %s", path, exc_info=exc)
        return error(500, "InternalServerError", "internal error (see the server log)")
