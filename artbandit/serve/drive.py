"""`artbandit simulate --service URL`: the simulated audience driving a running decision service.

The same stream and outcomes as an in-process simulation (same scenario and seed), but every rank
and reward goes over HTTP through bandit.service.client.ServiceClient, so the whole loop, and the service's
/metrics while it runs, can be watched. Rewards arrive at once on the service's clock (the
scenario's simulated delays order them, they do not wait).
"""

from __future__ import annotations

from typing import Any

from bandit.service.client import ServiceClient
from safeio.progress import Progress, no_progress


def drive_service(
    url: str,
    key: str | None,
    *,
    scenario: str,
    impressions: int,
    seed: int,
    reward: str,
    progress: Progress = no_progress,
) -> dict[str, Any]:
    """Run the simulated audience against the service at `url`; returns the policy's metrics.
    `progress(done, total, 'impressions')` is called as impressions are served (safeio.progress)."""
    from simulations.online.metrics import policy_metrics
    from simulations.online.runner import run_policy
    from simulations.world.environment import Environment
    from simulations.world.scenarios import load_scenario

    sc = load_scenario(scenario)
    env = Environment(sc, seed=seed)
    stream = env.generate(impressions)
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        progress(done, impressions, "impressions")

    with ServiceClient(url, key) as client:
        trace = run_policy(env, stream, client, reward=reward, on_progress=step)
    return policy_metrics(env, stream, trace, reward, floor=sc.exposure_floor)
