"""A real `artbandit serve` in a subprocess on a free loopback port, and the traffic the serve tests send."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from bandit.service.decision_service import DecisionService

KEY = "test-key-0123456789abcdef"
HEADERS = {"Ocp-Apim-Subscription-Key": KEY}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """Start with `start()`, stop with `stop(sig)`; `client` talks to /personalizer/v1.0.

    The single process (`--workers 1`) unless `extra` names the topology (--workers, --stream, --role)
    or `topology_default` asks for what `artbandit serve` runs without options (rankers + learner)."""

    def __init__(self, state: Path, *extra: str, seed: int = 0, topology_default: bool = False) -> None:
        self.state = Path(state)
        named = {"--workers", "--stream", "--role"} & set(extra)
        self.extra = extra if named or topology_default else ("--workers", "1", *extra)
        self.seed = seed
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.client: httpx.Client | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "Server":
        self.port = free_port()
        env = {**os.environ, "ARTBANDIT_API_KEY": KEY}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "artbandit",
                "serve",
                "--state",
                str(self.state),
                "--port",
                str(self.port),
                "--seed",
                str(self.seed),
                *self.extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                if httpx.get(self.url + "/status", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            self.stop(signal.SIGKILL)
            raise RuntimeError("server did not start")
        self.client = httpx.Client(base_url=self.url + "/personalizer/v1.0", headers=HEADERS, timeout=10.0)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.client is not None:
            self.client.close()
            self.client = None
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
            if self.proc.stderr:
                self.stderr = self.proc.stderr.read()
                self.proc.stderr.close()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def rank_body(i: int, n_actions: int = 4, **extra) -> dict:
    """A rank request whose context never repeats (viewer i)."""
    return {
        "contextFeatures": [{"user": {"segment": ("a", "b", "c")[i % 3], "n": i % 17}}],
        "actions": [{"id": f"v{k}", "features": [{"style": f"s{k % 3}", "bright": k / 10}]} for k in range(n_actions)],
        **extra,
    }


def journal_ids(state: Path) -> dict[str, set[str]]:
    """Event ids per record kind, read straight from a state folder's journal file."""
    db = sqlite3.connect(f"file:{state / 'journal.sqlite'}?mode=ro", uri=True)
    out: dict[str, set[str]] = {}
    for kind, event_id in db.execute("SELECT kind, event_id FROM records"):
        out.setdefault(kind, set()).add(event_id)
    db.close()
    return out


# -- a running server's answers (the contract tests share one server per package) --------------------
def server_status(server) -> dict:
    return httpx.get(server.url + "/status").json()


def probe(server, i: int = 0) -> list[float]:
    """The pmf for a fixed context (a deferred rank that is never activated, so nothing learns)."""
    r = server.client.post("/rank", json=rank_body(10_000 + i, deferActivation=True))
    assert r.status_code == 201
    return [p for _, p in sorted((x["id"], x["probability"]) for x in r.json()["ranking"])]


# -- hostile traffic (issue 27): values VW cannot learn from, and a stream in which v2 always pays --------
HOSTILE = [1e39, 1e300, -3.5e38, 1e39, 1e300, -3.5e38, 1e39, 1e300, -3.5e38, 1e39]


def four_actions(**features) -> list[dict]:
    return [{"id": f"v{k}", "features": {"style": f"s{k}", **features}} for k in range(4)]


def train_v2(rank, reward, n: int = 150) -> None:
    """n events in which v2 always pays 1 and every other action 0."""
    for i in range(n):
        event_id, chosen = rank({"user": {"seg": "a", "n": i % 7}}, four_actions())
        reward(event_id, 1.0 if chosen == "v2" else 0.0)


def v2_probability(svc: DecisionService) -> float:
    return dict(svc.rank({"user": {"seg": "a", "n": 3}}, four_actions()).ranking)["v2"]


def lib_rank(svc):
    def rank(context, acts):
        r = svc.rank(context, acts)
        return r.event_id, r.action_id

    return rank


def big_context(i: int, kb: int) -> dict:
    """A context of about `kb` KB of JSON that never repeats."""
    return {"big": {f"f{j}_{i}": f"value-{j}-{i}-" + "x" * (kb * 2 - 30) for j in range(500)}}


def small_disk(path, size: str):
    """A tmpfs of `size` mounted at `path` (a real full disk; the test is skipped without root)."""
    import subprocess

    path.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        != 0
    ):
        import pytest

        pytest.skip("needs root to mount a small tmpfs (the injected-failure test covers the logic)")
    return path


def fill_disk(folder) -> None:
    """Fill the disk under `folder` to the last byte (file `filler`: delete it to free the space).
    Called again, it tops the filler up with whatever was freed since (a snapshot or checkpoint
    the service swapped in and the old one deleted), never truncating it."""
    with open(folder / "filler", "ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass


def settled(srv: "Server") -> None:
    """With rankers: wait until every ranker serves the learner's newest snapshot (a ranker other than
    the one that took a change serves it within --model-update-seconds); the single process: at once."""
    for _ in range(600):
        s = httpx.get(srv.url + "/status", timeout=10.0).json()
        rankers = [w for name, w in (s.get("workers") or {}).items() if name.startswith("ranker")]
        if all((w.get("snapshotVersion") or 0) >= s["journalSeq"] for w in rankers) and s.get("learnerLag", 0) == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the rankers never caught up with the learner")
