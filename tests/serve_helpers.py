"""A real `artbandit serve` in a subprocess on a free loopback port, for the serve tests."""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

KEY = "test-key-0123456789abcdef"
HEADERS = {"Ocp-Apim-Subscription-Key": KEY}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """Start with `start()`, stop with `stop(sig)`; `client` talks to /personalizer/v1.0."""

    def __init__(self, state: Path, *extra: str, seed: int = 0) -> None:
        self.state = Path(state)
        self.extra = extra
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
            [sys.executable, "-m", "artbandit", "serve", "--state", str(self.state), "--port", str(self.port),
             "--seed", str(self.seed), *self.extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
