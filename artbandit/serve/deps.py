"""What every route of `artbandit serve` shares: the service, its group commit and the answers.

One `ServeState` per application, kept on `app.state.serve` by artbandit.serve.app and handed to a
route by `Depends(state)`, as FastAPI services usually do; the routes themselves live in
artbandit.serve.routes (Personalizer's API) and artbandit.serve.dashboard (the dashboard).
"""

from __future__ import annotations

import asyncio
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
from bandit.service.stream.ranker import Ranker
from safeio.errors import one_line

CHANGE_WAIT_S = 30.0  # how long a ranker waits for the learner to apply a change before a 503

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

    @property
    def via_stream(self) -> bool:
        """Whether changes go through the event stream to the learner (a ranker: `--workers`)."""
        return isinstance(self.svc, Ranker)

    @property
    def state_folder(self) -> Any:
        """The state folder whose event log evaluations read: this process's, or on a ranker the
        learner's when it is on this machine (None: it is not)."""
        svc = self.svc
        return svc.state_folder if isinstance(svc, Ranker) else svc.state.path

    async def newest_snapshot(self) -> None:
        """On a ranker: load the learner's newest snapshot now, not at the next model update."""
        if isinstance(self.svc, Ranker):
            await self.committer.background(self.svc.reload)

    async def change(self, op: str, fields: dict[str, Any] | None = None, upload: bytes | None = None) -> None:
        """On a ranker: send a configuration, policy, model or log change to the learner and return
        once the snapshot this ranker serves has it applied (its refusal is a 400; no learner within
        CHANGE_WAIT_S is a 503, and the change stays in the stream: it is applied when the learner runs)."""
        svc = self.svc
        assert isinstance(svc, Ranker)
        seq = await self.committer.write(svc.send_change, op, fields, upload)
        deadline = time.monotonic() + CHANGE_WAIT_S
        while True:
            await self.committer.background(svc.reload)
            if svc.change_outcome(seq):
                return
            if time.monotonic() > deadline:
                from artbandit.serve.committer import JournalUnavailable

                raise JournalUnavailable(
                    f"the change is stored in the event stream (position {seq}) but the learner has not "
                    f"applied it within {CHANGE_WAIT_S:g} s; it will be applied when the learner runs"
                )
            await asyncio.sleep(0.02)

    def model_replaced(self, policy_name: str | None = None) -> None:
        """Note a new model (and, when given, the policy's name) for /model/properties."""
        self.created = time.time()
        if policy_name is not None:
            self.policy_name = policy_name

    @property
    def model_created(self) -> float:
        """When the served model was made (on a ranker: when the learner's last model change was)."""
        return getattr(self.svc, "model_created", None) or self.created

    def policy(self) -> Response:
        """The answer of GET/PUT/DELETE /configurations/policy (a ranker: the learner's name)."""
        name = getattr(self.svc, "policy_name", None) or self.policy_name
        return JSON(wire.policy_to_wire(name, self.svc.arguments))

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
