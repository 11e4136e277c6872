"""What every route of `artbandit serve` shares: the service, its group commit and the answers.

One `ServeState` per application, kept on `app.state.serve` by artbandit.serve.app and handed to a
route by `Depends(state)`, as FastAPI services usually do; the routes themselves live in
artbandit.serve.routes (Personalizer's API) and artbandit.serve.dashboard (the dashboard).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from artbandit.serve.committer import Committer
from artbandit.serve.metrics import Metrics
from bandit.service import wire
from bandit.service.decision_service import DecisionService
from safeio.errors import one_line

PERSONALIZER = "/personalizer"
DEFAULT_POLICY_NAME = "artbandit"  # what GET /configurations/policy names a policy nobody named


class JSON(Response):
    """A JSON answer serialised by orjson (faster than the standard library's on every rank)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, code: str, message: str) -> Response:
    """Personalizer's error body with a one-line message."""
    return Response(
        orjson.dumps(wire.error_json(code, one_line(str(message)))), status_code=status, media_type="application/json"
    )


@dataclass
class ServeState:
    """The service behind the routes, its group commit, the request metrics, and what the model's
    properties report."""

    svc: DecisionService
    committer: Committer
    metrics: Metrics
    key: bytes | None = None
    catalog: Any = None  # an artbandit.serve.dashboard.catalog.Catalogue, or None
    created: float = field(default_factory=time.time)  # when the model was made (creationTime)
    policy_name: str = DEFAULT_POLICY_NAME

    def model_replaced(self, policy_name: str | None = None) -> None:
        """Note a new model (and, when given, the policy's name) for /model/properties."""
        self.created = time.time()
        if policy_name is not None:
            self.policy_name = policy_name

    def policy(self) -> Response:
        """The answer of GET/PUT/DELETE /configurations/policy."""
        return JSON(wire.policy_to_wire(self.policy_name, self.svc.arguments))

    async def acknowledged(self) -> Response:
        """204 once the change just made is committed (the group commit)."""
        await self.committer.durable()
        return Response(status_code=204)


def raw_body(request: Request) -> bytes:
    """The request body the Gate read (bounded by --max-body)."""
    return request.scope["state"].get("body", b"")


def body(request: Request) -> Any:
    """The request body as JSON (a 400 when it is not)."""
    return wire.parse_body(raw_body(request))


async def state(request: Request) -> ServeState:
    """The ServeState of the app serving `request` (a FastAPI dependency; async so it runs on the loop)."""
    return request.app.state.serve
