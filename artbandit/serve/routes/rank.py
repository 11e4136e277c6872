"""POST /rank and /multislot/rank: a decision, answered once it is in the journal (201)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from artbandit.serve.deps import JSON, PERSONALIZER, ServeState, body, raw_body, state
from bandit.service import wire

router = APIRouter(prefix=PERSONALIZER)


async def rank_answer(st: ServeState, raw: bytes) -> Response:
    """POST /rank's answer to a request body (the route's, and artbandit.serve.fastlane's)."""
    args = wire.rank_args(wire.parse_body(raw))
    if st.catalog is not None:  # variants named by id alone get their features from the catalogue
        args["actions"] = st.catalog.fill(args["actions"])
    r = st.svc.rank(**args)
    await st.committer.durable()
    return JSON(wire.rank_answer(r), status_code=201)


@router.post("/rank", status_code=201)
async def rank(request: Request, st: ServeState = Depends(state)) -> Response:
    return await rank_answer(st, raw_body(request))


@router.post("/multislot/rank", status_code=201)
async def multislot_rank(request: Request, st: ServeState = Depends(state)) -> Response:
    event_id, chosen = st.svc.rank_multislot(**wire.multislot_args(body(request)))
    await st.committer.durable()
    return JSON(wire.multislot_answer(event_id, chosen), status_code=201)
