"""/configurations/service (Personalizer's service settings) and /configurations/policy (VW
arguments on the allowlist: a new policy starts a fresh model, as Personalizer's does). On a ranker
(`--workers`) a change is checked here, then applied by the learner (ServeState.change)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from artbandit.serve.deps import DEFAULT_POLICY_NAME, JSON, PERSONALIZER, ServeState, body, state
from bandit.service import wire
from bandit.service.config import DEFAULT_ARGUMENTS

router = APIRouter(prefix=PERSONALIZER)


@router.get("/configurations/service")
async def get_service_config(st: ServeState = Depends(state)) -> Response:
    return JSON(wire.service_config_to_wire(st.svc.config))


@router.put("/configurations/service")
async def put_service_config(request: Request, st: ServeState = Depends(state)) -> Response:
    config = wire.service_config_from_wire(st.svc.config, body(request), st.svc.reward_range)  # the 400s
    if st.via_stream:
        await st.change("config", {"body": body(request)})  # merged onto the learner's, in stream order
    else:
        st.svc.set_config(config)
    return JSON(wire.service_config_to_wire(st.svc.config))


@router.get("/configurations/policy")
async def get_policy(st: ServeState = Depends(state)) -> Response:
    return st.policy()


@router.put("/configurations/policy")
async def put_policy(request: Request, st: ServeState = Depends(state)) -> Response:
    name, arguments = wire.policy_from_wire(body(request))
    policy = st.svc.new_policy(arguments)  # checks the allowlist before anything changes
    if st.via_stream:
        await st.change("policy", {"name": name, "arguments": arguments})
        return st.policy()
    await st.committer.publish(st.svc.replace_policy(policy, arguments))
    st.model_replaced(name or DEFAULT_POLICY_NAME)  # answered with the name it was given
    return st.policy()


@router.delete("/configurations/policy")
async def reset_policy(st: ServeState = Depends(state)) -> Response:
    """Personalizer's reset: the default arguments and a fresh model."""
    arguments = DEFAULT_ARGUMENTS
    if st.via_stream:
        await st.change("policy", {"arguments": arguments})
        return st.policy()
    await st.committer.publish(st.svc.replace_policy(st.svc.new_policy(arguments), arguments))
    st.model_replaced(DEFAULT_POLICY_NAME)
    return st.policy()
