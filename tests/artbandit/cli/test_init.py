"""The artbandit entry point (artbandit.cli): help lists every command, exit codes reach the shell, no
tracebacks; and `artbandit --help` and the subcommands' --help stay fast: they load none of the heavy
libraries, though the options' choices come from the libraries (tiny import-free `choices` modules)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from artbandit import cli as cli_module
from artbandit.cli import COMMANDS, cli, main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from artbandit.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


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

    monkeypatch.setattr(
        cli_module.LazyGroup, "get_command", lambda self, ctx, name: failing if name == "failing" else None
    )
    with pytest.raises(SystemExit) as exc:
        main(["failing"])
    assert exc.value.code == 3


def test_unknown_command_and_bad_option_are_one_line_errors() -> None:
    for args in (["nonsense"], ["simulate", "--impressions", "abc", "-o", "x"]):
        proc = run(*args)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and "Error:" in proc.stderr


def test_an_os_error_reads_path_then_reason_without_errno(tmp_path) -> None:
    # issue 27: a raw OSError reached users as `Error: [Errno 2] No such file ...: 'path'`
    import subprocess
    import sys

    from safeio.errors import one_line

    assert one_line(FileNotFoundError(2, "No such file or directory", "/x/y")) == "/x/y: No such file or directory"
    assert one_line(OSError(18, "Invalid cross-device link", "a", None, "b")) == "a -> b: Invalid cross-device link"
    assert one_line(OSError("plain\nmessage")) == "plain message"
    (tmp_path / "f").write_text("x")  # an output folder below a file
    proc = subprocess.run(
        [sys.executable, "-m", "artbandit", "simulate", "-o", str(tmp_path / "f" / "x"), "--impressions", "10", "-q"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "Errno" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("Error: ")


HEAVY = ("cv2", "av", "vowpalwabbit", "matplotlib", "pyarrow", "ray", "fastapi")


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import json, sys\n"
        "from artbandit.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "sys.stderr.write(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: artbandit" in proc.stdout
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["replay", "--help"],
        ["simulate", "--help"],
        ["extract", "--help"],
        ["variants", "--help"],
        ["log", "export", "--help"],
        ["train", "--help"],
        ["catalog", "build", "--help"],
        ["evaluate", "--help"],
    ],
)
def test_help_imports_no_heavy_library(argv):
    loaded = _modules_after(argv)
    assert "click" in loaded  # the probe sees what the CLI imported
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    if argv[0] != "--help":
        assert "numpy" not in loaded  # their choices come from import-free modules


def test_simulate_reward_choices_are_the_library_names():
    from artbandit.cli.simulate import simulate
    from simulations.choices import REWARDS

    reward = next(p for p in simulate.params if p.name == "reward")
    assert tuple(reward.type.choices) == REWARDS


def test_engine_and_catalog_choices_are_the_library_names():
    from artbandit.cli.catalog import build
    from artbandit.cli.replay import replay
    from imaging.candidates.manifest import FORMATS
    from imaging.decode.video import MODES
    from safeio.engine import ENGINES

    choices = {p.name: tuple(p.type.choices) for p in build.params if hasattr(p.type, "choices")}
    assert choices == {"engine": ENGINES, "mode": MODES, "fmt": tuple(FORMATS)}
    assert tuple(next(p for p in replay.params if p.name == "engine").type.choices) == ENGINES
    from artbandit.cli.evaluate import evaluate
    from simulations.ope.readers import FORMATS as LOG_FORMATS

    choices = {p.name: tuple(p.type.choices) for p in evaluate.params if hasattr(p.type, "choices")}
    assert choices == {"engine": ENGINES, "fmt": LOG_FORMATS}
