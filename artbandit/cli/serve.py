"""`artbandit serve`: the Personalizer-compatible decision service (docs/serve.md)."""

from __future__ import annotations

import os
from typing import Any

import click


def _key(api_key_file: str | None, no_auth: bool) -> bytes | None:
    if no_auth:
        return None
    if api_key_file:
        try:
            key = open(api_key_file, "rb").read().strip()
        except OSError as exc:
            raise click.UsageError(f"--api-key-file: {exc.strerror}: {api_key_file}") from None
    else:
        key = os.environ.get("ARTBANDIT_API_KEY", "").strip().encode()
    if len(key) < 16:
        raise click.UsageError(
            "an API key of at least 16 characters is required: set ARTBANDIT_API_KEY or "
            "--api-key-file (or --no-auth to serve without one, e.g. behind your own gateway)"
        )
    return key


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter("give LOW,HIGH, e.g. 0,1") from None
    if not lo < hi:
        raise click.BadParameter("LOW must be below HIGH")
    return lo, hi


def cpus_available() -> int:
    """The CPUs this process may run on (a container's or taskset's limit, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class WorkerCount(click.ParamType):
    """`auto` or a number of rankers from 1 to 256."""

    name = "auto|N"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value == "auto" or isinstance(value, int):
            return value
        try:
            number = int(value)
        except ValueError:
            self.fail(f"{value!r} is not 'auto' or a whole number", param, ctx)
        if not 1 <= number <= 256:
            self.fail(f"{number} is not between 1 and 256", param, ctx)
        return number


@click.command()
@click.option(
    "--state",
    required=True,
    type=click.Path(file_okay=False),
    help="State folder: journal, event log, checkpoints, configuration (created owner-only).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False),
    help="File holding the API key (default: the ARTBANDIT_API_KEY environment variable).",
)
@click.option("--no-auth", is_flag=True, help="Serve without an API key (only behind another gateway).")
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seeds sampling and the model (generated event ids stay random from the OS).",
)
@click.option("--reward-range", default="0,1", show_default=True, help="LOW,HIGH of accepted reward values.")
@click.option(
    "--max-actions",
    default=50,
    show_default=True,
    type=click.IntRange(1, 1_000),
    help="Most actions in one rank request (Personalizer's limit is 50).",
)
@click.option(
    "--max-pending-mb",
    default=256,
    show_default=True,
    type=click.IntRange(16, 1 << 20),
    help="Memory budget of events waiting for their reward (estimated); past it ranks get 503.",
)
@click.option(
    "--max-body",
    default=1 << 20,
    show_default=True,
    type=click.IntRange(1024),
    help="Largest request body in bytes (model uploads: 256 MiB).",
)
@click.option(
    "--header-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 300),
    help="Seconds a client has to send a request's headers (slow clients are disconnected).",
)
@click.option("--durable", is_flag=True, help="fsync every group commit (survives power loss; slower).")
@click.option(
    "--catalog",
    type=click.Path(file_okay=False, exists=True),
    help="A folder written by `artbandit "
    "catalog build`: rank actions may be variant ids alone, and /dashboard shows their images.",
)
@click.option("--quiet", "-q", is_flag=True, help="No startup line.")
@click.option(
    "--workers",
    default="auto",
    show_default=True,
    type=WorkerCount(),
    help="Ranker processes sharing the port, plus one learner process; auto: one per CPU this process "
    "may use. 1: the single process instead (learns before it answers; an unknown event's reward is a "
    "404). See docs/serve.md 'Past one process'.",
)
@click.option(
    "--stream",
    default=None,
    metavar="URL",
    help="Event stream between rankers and the learner: 'embedded' (the default, a log in the state "
    "folder) or nats://HOST:PORT (NATS JetStream, past one machine).",
)
@click.option(
    "--model-update-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    help="How often the learner publishes a model snapshot and rankers look for one (0: as fast as "
    "possible). Not used by the single process (--workers 1).",
)
@click.option(
    "--role",
    type=click.Choice(["all", "ranker", "learner"]),
    default="all",
    show_default=True,
    help="With --stream: run only rankers (on this machine's port) or only the learner.",
)
def serve(
    state,
    host,
    port,
    api_key_file,
    no_auth,
    seed,
    reward_range,
    max_actions,
    max_pending_mb,
    max_body,
    header_timeout,
    durable,
    quiet,
    catalog,
    workers,
    stream,
    model_update_seconds,
    role,
):
    """Serve Personalizer's REST API (rank, reward, activate, multi-slot, configuration, model) on a
    state folder that a crash cannot make forget."""
    from artbandit.serve.runner import serve as run

    if workers == "auto":
        workers = cpus_available()
    elif workers == 1 and not stream and role == "all":
        workers = 0  # the single process
    if workers > 0 or stream or role != "all":
        workers = max(1, workers)
        from artbandit.serve.workers import serve_workers

        if catalog and role != "learner":  # checked once here: a bad catalogue is a one-line error
            from artbandit.serve.dashboard.catalog import Catalogue

            Catalogue(catalog)

        cfg = dict(
            state=state,
            host=host,
            port=port,
            seed=seed,
            reward_range=list(_range(reward_range)),
            max_actions=max_actions,
            max_body=max_body,
            durable=durable,
            quiet=quiet,
            max_pending_bytes=max_pending_mb << 20,
            header_timeout_s=header_timeout,
            workers=workers,
            stream=stream,
            model_update_s=model_update_seconds,
            role=role,
            catalog=os.path.abspath(catalog) if catalog else None,
        )
        raise SystemExit(serve_workers(cfg, None if role == "learner" else _key(api_key_file, no_auth)))
    run(
        state,
        host=host,
        port=port,
        key=_key(api_key_file, no_auth),
        seed=seed,
        reward_range=_range(reward_range),
        max_actions=max_actions,
        max_body=max_body,
        durable=durable,
        quiet=quiet,
        max_pending_bytes=max_pending_mb << 20,
        header_timeout_s=header_timeout,
        catalog=catalog,
    )
