"""Fixtures several test files share: running the `artbandit` CLI in-process or as the real console script.

Test helpers (tests/*_helpers.py) are imported one way, as modules of the `tests` package (`from tests.replay_helpers import
...`): tests/ and its folders are packages, so test files in different folders may share a name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture()
def cli(capsys) -> Callable[[list[str]], tuple[int, str, str]]:
    """Run `artbandit ARGS` in-process through its entry point; returns (exit code, stdout, stderr)."""
    from artbandit.cli import main

    def run(args: list[str]) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture()
def console(tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """Run the installed `artbandit` console script in a subprocess (what a user types), cwd tmp_path."""
    script = Path(sys.executable).with_name("artbandit")
    exe = str(script) if script.exists() else shutil.which("artbandit")
    if exe is None:
        pytest.skip("the artbandit console script is not installed")

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "ARTBANDIT_DEBUG"}
        return subprocess.run(
            [exe, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env
        )

    return run


@pytest.fixture
def nats_server(tmp_path):
    """A real NATS JetStream server on a loopback port (skipped without the `stream` extra), stopped after."""
    from tests.nats_helpers import NatsServer

    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()
