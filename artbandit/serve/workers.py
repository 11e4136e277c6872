"""`artbandit serve --workers N`: N ranker processes on one port, one learner, an event stream between.

Topology (docs/serve.md "Past one process"): the supervisor (this module's `serve_workers`, the
process you start) binds the port once and passes the listening socket to N ranker processes (each
one uvicorn running the usual app over a bandit.service.stream.ranker.Ranker), and starts one learner process
(bandit.service.stream.learner.Learner over the state folder's DecisionService). The kernel spreads
connections over the rankers, which accept from the same socket. A ranker or the learner that dies
is started again; SIGTERM/SIGINT stops the rankers first (they finish their requests), then the
learner (it learns what is left in the stream, publishes and checkpoints).

`--role ranker` / `--role learner` run one piece alone (past one machine: rankers on several hosts
pointed at the same `--stream nats://...`, one learner anywhere with the state folder).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from safeio.errors import one_line

ROLE_ENV = "ARTBANDIT_WORKER"  # the child's settings (JSON)
KEY_ENV = "ARTBANDIT_WORKER_KEY"  # the API key, hex (not on the command line)
LIFELINE_ENV = "ARTBANDIT_LIFELINE_FD"  # a pipe's read end whose writer is the supervisor


def serve_workers(cfg: dict[str, Any], key: bytes | None) -> int:
    """Run the supervisor (role 'all') or one piece ('ranker' / 'learner'); the exit status."""
    role = cfg.get("role", "all")
    if role == "learner":
        return run_learner(cfg)
    if role == "ranker":
        return run_ranker(cfg, key, fd=None)
    return _supervise(cfg, key)


def _spawn(cfg: dict[str, Any], key: bytes | None, role: str, lifeline: int, **extra: Any) -> subprocess.Popen:
    env = {**os.environ, ROLE_ENV: json.dumps({**cfg, "role": role, **extra}), LIFELINE_ENV: str(lifeline)}
    env.pop(KEY_ENV, None)
    if key is not None:
        env[KEY_ENV] = key.hex()
    fds = (extra["fd"], lifeline) if "fd" in extra else (lifeline,)
    return subprocess.Popen([sys.executable, "-m", "artbandit.serve.workers"], env=env, pass_fds=fds)


def _stop_with_the_supervisor(fd: int) -> None:
    """Stop this worker (SIGTERM to itself: the usual graceful stop) once the supervisor is gone.

    Why: a supervisor killed with SIGKILL (or OOM) cannot stop its children; left running, they would
    hold the port and the state folder's lock, so `artbandit serve` could not start again. The pipe's
    write end lives only in the supervisor and is never written, so reading it returns once the
    supervisor has exited, however it exited."""

    def watch() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="artbandit-lifeline", daemon=True).start()


class RestartPacing:
    """When to start a worker again after it exited: at once the first time, then, while it keeps
    dying soon after each start (a full disk, a damaged state folder), after 0.5, 1, 2 ... 30 s, so a
    crash loop neither burns a core on recoveries nor floods the log; a worker that ran QUIET_S
    before dying is started at once again."""

    QUIET_S = 30.0
    LONGEST_S = 30.0

    def __init__(self) -> None:
        self.started = 0.0
        self.quick_deaths = 0

    def start(self, now: float) -> None:
        self.started = now

    def delay(self, died: float) -> float:
        """Seconds to wait before the next start, for a worker that exited at `died`."""
        if died - self.started >= self.QUIET_S:
            self.quick_deaths = 0
        self.quick_deaths += 1
        return 0.0 if self.quick_deaths == 1 else min(self.LONGEST_S, 0.5 * 2 ** (self.quick_deaths - 2))


def _supervise(cfg: dict[str, Any], key: bytes | None) -> int:
    from bandit.errors import BanditError
    from bandit.service.stream import open_stream

    sock = socket.socket(socket.AF_INET6 if ":" in cfg["host"] else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((cfg["host"], cfg["port"]))
    except OSError as exc:
        print(f"artbandit serve: cannot listen on {cfg['host']}:{cfg['port']} ({exc.strerror})", file=sys.stderr)
        return 1
    sock.listen(2048)
    sock.set_inheritable(True)
    stopping = {"now": False}

    def stop(signum: int, frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    lifeline, lifeline_w = os.pipe()  # the write end stays here: the children stop when it closes
    learner = _spawn(cfg, key, "learner", lifeline)
    stream = None
    while stream is None or stream.snapshot_meta() is None:  # the rankers start on the learner's first snapshot
        if learner.poll() is not None:
            return learner.returncode or 1  # its one-line error is on stderr already
        if stopping["now"]:
            learner.terminate()
            return learner.wait()
        if stream is None and (
            os.path.exists(os.path.join(cfg["state"], "stream.sqlite"))
            or cfg.get("stream") not in (None, "", "embedded")
        ):
            try:
                stream = open_stream(cfg.get("stream"), cfg["state"], durable=cfg["durable"])
            except BanditError as exc:
                learner.terminate()
                learner.wait()
                print(f"artbandit serve: {exc}", file=sys.stderr)
                return 1
        time.sleep(0.05)
    fd = sock.fileno()
    rankers = {i: _spawn(cfg, key, "ranker", lifeline, name=f"ranker-{i}", fd=fd) for i in range(cfg["workers"])}
    if not cfg.get("quiet"):
        print(
            f"artbandit serve: listening on http://{cfg['host']}:{sock.getsockname()[1]}/personalizer "
            f"({cfg['workers']} rankers, 1 learner, stream {cfg.get('stream') or 'embedded'}, state {cfg['state']})",
            flush=True,
        )
    pacing = {name: RestartPacing() for name in ["learner", *(f"ranker-{i}" for i in rankers)]}
    due: dict[str, float] = {}  # a worker that exited -> when to start it again
    for p in pacing.values():
        p.start(time.monotonic())
    while not stopping["now"]:
        time.sleep(0.05)
        now = time.monotonic()
        procs = {"learner": learner, **{f"ranker-{i}": proc for i, proc in rankers.items()}}
        for name, proc in procs.items():
            if proc.poll() is None or stopping["now"]:
                continue
            if name not in due:
                due[name] = now + pacing[name].delay(now)
                wait = due[name] - now
                print(
                    f"artbandit serve: {'the learner' if name == 'learner' else name} (pid {proc.pid}) exited "
                    f"{proc.returncode}; starting it again" + (f" in {wait:g} s" if wait else ""),
                    file=sys.stderr,
                    flush=True,
                )
            if now >= due[name]:
                del due[name]
                pacing[name].start(now)
                if name == "learner":
                    learner = _spawn(cfg, key, "learner", lifeline)
                else:
                    i = int(name.split("-")[1])
                    rankers[i] = _spawn(cfg, key, "ranker", lifeline, name=name, fd=fd)
    for proc in rankers.values():  # rankers first: what they acknowledged is in the stream
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    codes = [proc.wait() for proc in rankers.values()]
    if learner.poll() is None:
        learner.send_signal(signal.SIGTERM)
    codes.append(learner.wait())
    sock.close()
    if stream is not None:
        for i in rankers:
            stream.drop_status(f"ranker-{i}")
        stream.close()
    return 0 if all(c in (0, -signal.SIGTERM) for c in codes) else 1


def run_learner(cfg: dict[str, Any]) -> int:
    from bandit.errors import BanditError
    from bandit.service.decision_service import DecisionService
    from bandit.service.stream import open_stream
    from bandit.service.stream.learner import Learner

    stopping = {"now": False}

    def stop(signum: int, frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        svc = DecisionService(
            cfg["state"],
            seed=cfg["seed"],
            reward_range=tuple(cfg["reward_range"]),
            max_actions=cfg["max_actions"],
            durable=cfg["durable"],
            autocommit=False,
            max_pending_bytes=cfg["max_pending_bytes"],
        )
    except BanditError as exc:
        print(f"artbandit serve: {exc}", file=sys.stderr)
        return 1
    stream = None
    try:
        stream = open_stream(cfg.get("stream"), cfg["state"], durable=cfg["durable"])
        learner = Learner(svc, stream, model_update_s=cfg["model_update_s"])
        _publish_dashboard_counts(svc, stream, lambda: stopping["now"])
        from artbandit.serve.process import freeze_startup_objects

        freeze_startup_objects()
        learner.run(lambda: stopping["now"])
        svc.close()
    except Exception as exc:  # noqa: BLE001 - one line; the supervisor starts it again, it resumes exactly
        # no commit and no checkpoint here: records applied in memory since the last batch must not
        # reach the journal without their stream position (they would be learned twice)
        print(f"artbandit serve: learner: {one_line(exc, typed=True)}", file=sys.stderr)
        svc.state.close()
        return 1
    finally:
        if stream is not None:
            stream.close()
    return 0


def _publish_dashboard_counts(svc: Any, stream: Any, stopping: Any) -> None:
    """The dashboard's live counts are the learner's (it sees every event, the rankers a share and no
    closed event): counted here and put in the stream's store every PUBLISH_EVERY_S when they changed,
    where every ranker's dashboard reads them (artbandit.serve.dashboard.live)."""
    import orjson

    from artbandit.serve.dashboard.live import LIVE_STATS, PUBLISH_EVERY_S, LiveStats, attach_learner

    stats = LiveStats()
    attach_learner(svc, stats)

    def publish() -> None:
        published = -1
        while not stopping():
            time.sleep(PUBLISH_EVERY_S)
            if stats.version != published:
                try:
                    published = stats.version
                    stream.put_upload(LIVE_STATS, orjson.dumps(stats.to_json()))
                except Exception:  # noqa: BLE001 - the stream is away: the next round tries again
                    published = -1

    threading.Thread(target=publish, name="artbandit-dashboard-counts", daemon=True).start()


def run_ranker(cfg: dict[str, Any], key: bytes | None, fd: int | None) -> int:
    import uvicorn

    from artbandit.serve.app import create_app
    from artbandit.serve.process import freeze_startup_objects
    from artbandit.serve.protocol import KEEP_ALIVE_S, guarded_protocol
    from bandit.errors import BanditError
    from bandit.service.stream import open_stream
    from bandit.service.stream.ranker import Ranker

    try:
        stream = open_stream(cfg.get("stream"), cfg["state"], durable=cfg["durable"])
        svc = Ranker(
            stream,
            name=cfg.get("name", f"ranker-{os.getpid()}"),
            seed=cfg["seed"],
            reward_range=tuple(cfg["reward_range"]),
            max_actions=cfg["max_actions"],
            model_update_s=cfg["model_update_s"],
            max_pending_bytes=cfg["max_pending_bytes"],
            state_folder=cfg["state"],
        )
        catalog = None
        if cfg.get("catalog"):  # each ranker reads the catalogue itself (rank fills variant ids from it)
            from artbandit.serve.dashboard.catalog import Catalogue

            catalog = Catalogue(cfg["catalog"])
    except BanditError as exc:
        print(f"artbandit serve: ranker: {exc}", file=sys.stderr)
        return 1
    remote = not (cfg.get("stream") in (None, "", "embedded"))
    # a remote stream's append waits on the network: on the writer thread, the loop keeps parsing
    app = create_app(svc, key=key, max_body=cfg["max_body"], durable=remote, catalog=catalog)
    logging.basicConfig(level=logging.WARNING, format="artbandit serve: %(levelname)s %(message)s")
    config = uvicorn.Config(
        app,
        host=cfg["host"],
        port=cfg["port"],
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
        server_header=False,
        http=guarded_protocol(cfg["header_timeout_s"]),
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    # the supervisor's listening socket, as a socket object: uvicorn's own `fd=` takes it for a Unix
    # socket, so asyncio left Nagle on (TCP_NODELAY unset) and every answer waited ~40 ms for an ACK
    sockets = [socket.socket(fileno=fd)] if fd is not None else None
    freeze_startup_objects()
    uvicorn.Server(config).run(sockets=sockets)
    return 0


def _child() -> int:
    cfg = json.loads(os.environ[ROLE_ENV])
    key_hex = os.environ.get(KEY_ENV)
    key = bytes.fromhex(key_hex) if key_hex else None
    if os.environ.get(LIFELINE_ENV):
        _stop_with_the_supervisor(int(os.environ[LIFELINE_ENV]))
    if cfg["role"] == "learner":
        return run_learner(cfg)
    return run_ranker(cfg, key, fd=cfg.get("fd"))


if __name__ == "__main__":
    sys.exit(_child())
