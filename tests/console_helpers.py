"""Run the installed `artbandit` console script as a user would, and check what it leaves behind.

Shared by the imaging tests that go through the real command (output folders, bad inputs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ARTBANDIT = str(Path(sys.executable).with_name("artbandit"))


def artbandit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ARTBANDIT, *args], capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("Error:", "failed:"))]
    assert errors, proc.stderr
    for needle in needles:
        assert any(needle in line for line in errors), proc.stderr


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes (to show that nothing was touched)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
