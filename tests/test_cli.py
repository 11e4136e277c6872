"""The artbandit entry point: help lists every command, exit codes reach the shell, no tracebacks."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest

from artbandit import cli as cli_module
from artbandit.cli import COMMANDS, cli, main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from artbandit.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


def test_help_lists_every_command() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout
        assert cli.get_command(click.Context(cli), name) is not None, name


def test_exit_code_of_ctx_exit_reaches_the_shell(monkeypatch) -> None:
    @click.command()
    @click.pass_context
    def failing(ctx):
        ctx.exit(3)

    monkeypatch.setattr(cli_module.LazyGroup, "get_command",
                        lambda self, ctx, name: failing if name == "failing" else None)
    with pytest.raises(SystemExit) as exc:
        main(["failing"])
    assert exc.value.code == 3


def test_unknown_command_and_bad_option_are_one_line_errors() -> None:
    for args in (["nonsense"], ["simulate", "--impressions", "abc", "-o", "x"]):
        proc = run(*args)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and "Error:" in proc.stderr
