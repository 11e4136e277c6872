"""Rewards and activation of ranked events (single- and multi-slot): 204 once committed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from artbandit.serve.deps import PERSONALIZER, ServeState, body, raw_body, state
from bandit.service import wire

router = APIRouter(prefix=PERSONALIZER)


async def reward_answer(st: ServeState, event_id: str, raw: bytes) -> Response:
    """POST /events/{eventId}/reward's answer (the route's, and artbandit.serve.fastlane's)."""
    st.svc.reward(event_id, wire.reward_value(wire.parse_body(raw)))
    return await st.acknowledged()


@router.post("/events/{event_id}/reward", status_code=204)
async def reward(event_id: str, request: Request, st: ServeState = Depends(state)) -> Response:
    return await reward_answer(st, event_id, raw_body(request))


@router.post("/multislot/events/{event_id}/reward", status_code=204)
async def multislot_reward(event_id: str, request: Request, st: ServeState = Depends(state)) -> Response:
    st.svc.reward_multislot(event_id, wire.multislot_rewards(body(request)))
    return await st.acknowledged()


@router.post("/events/{event_id}/activate", status_code=204, name="activate")
async def activate(event_id: str, st: ServeState = Depends(state)) -> Response:
    st.svc.activate(event_id, multislot=False)
    return await st.acknowledged()


@router.post("/multislot/events/{event_id}/activate", status_code=204, name="multislotactivate")
async def multislot_activate(event_id: str, st: ServeState = Depends(state)) -> Response:
    st.svc.activate(event_id, multislot=True)
    return await st.acknowledged()
