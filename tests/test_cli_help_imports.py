"""`artbandit --help` and the subcommands' --help stay fast: they load none of the heavy libraries,
though the options' choices come from the libraries (tiny import-free `choices` modules)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


@pytest.mark.parametrize("argv", [["--help"], ["replay", "--help"], ["simulate", "--help"], ["extract", "--help"],
                                  ["variants", "--help"], ["log", "export", "--help"], ["train", "--help"],
                                  ["catalog", "build", "--help"], ["evaluate", "--help"]])
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
    from safeio.engine import ENGINES
    from imaging.candidates import FORMATS
    from imaging.video import MODES

    choices = {p.name: tuple(p.type.choices) for p in build.params if hasattr(p.type, "choices")}
    assert choices == {"engine": ENGINES, "mode": MODES, "fmt": tuple(FORMATS)}
    assert tuple(next(p for p in replay.params if p.name == "engine").type.choices) == ENGINES
    from artbandit.cli.evaluate import evaluate
    from simulations.ope.readers import FORMATS as LOG_FORMATS

    choices = {p.name: tuple(p.type.choices) for p in evaluate.params if hasattr(p.type, "choices")}
    assert choices == {"engine": ENGINES, "fmt": LOG_FORMATS}
