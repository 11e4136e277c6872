"""`artbandit simulate --service URL`: the simulated audience driving a running decision service.

The same stream and outcomes as an in-process simulation (same scenario and seed), but every rank
and reward goes over HTTP through bandit.client.ServiceClient, so the whole loop, and the service's
/metrics while it runs, can be watched. Rewards arrive at once on the service's clock (the
scenario's simulated delays order them, they do not wait).
"""
from __future__ import annotations

from typing import Any

from bandit.client import ServiceClient


def drive_service(url: str, key: str | None, *, scenario: str, impressions: int, seed: int, reward: str,
                  quiet: bool) -> dict[str, Any]:
    """Run the simulated audience against the service at `url`; returns the policy's metrics."""
    from simulations.environment import Environment
    from simulations.metrics import policy_metrics
    from simulations.progress import progress
    from simulations.runner import run_policy
    from simulations.scenarios import load_scenario

    sc = load_scenario(scenario)
    env = Environment(sc, seed=seed)
    stream = env.generate(impressions)
    with ServiceClient(url, key) as client, progress(length=impressions, label="simulating", quiet=quiet) as bar:
        trace = run_policy(env, stream, client, reward=reward, on_progress=bar.update)
    return policy_metrics(env, stream, trace, reward, floor=sc.exposure_floor)
