"""How simulations.ope is built: a reader per format behind one registry, its own error class, and no
dependency on the simulator, the demo or the application layer.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulations.errors import SimulationError
from simulations.ope import OPEError, open_log
from simulations.ope.readers import FORMATS, READERS


def test_every_format_has_one_registered_reader_built_with_its_source(tmp_path):
    assert set(READERS) == set(FORMATS) - {"auto"}
    path = tmp_path / "log.csv"
    path.write_text("action,reward,propensity\na,1,0.5\n")
    src = open_log(path)
    assert type(src.reader).__name__ == "TableReader" and src.reader.path == path
    # the source and its reader share the notes and the bad-line counter (nothing patched in later)
    assert src.reader.notes is src.notes and src.reader.bad is src.bad_lines


def test_ope_error_is_a_simulation_error_so_the_cli_prints_one_line(tmp_path):
    assert issubclass(OPEError, SimulationError)
    with pytest.raises(OPEError, match="no such log file"):
        open_log(tmp_path / "missing.csv")


def test_ope_imports_neither_the_simulator_nor_the_application_layer(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("action,reward,propensity,u\n" + "a,1,0.5,x\nb,0,0.5,y\n" * 20)
    code = (
        "import sys; from simulations.ope import replay_log, run_replay, open_log; "
        "import simulations.ope.progressive, simulations.ope.rewardmodel; "
        f"replay_log({str(log)!r}, ['logged', 'uniform', 'best-fixed', 'vw:epsilon'], ['ips', 'dr']); "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('simulations', 'artbandit', 'imaging')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "simulations.ope.replay" in out
    for forbidden in (
        "simulations.world.environment",
        "simulations.online.runner",
        "simulations.world.scenarios",
        "simulations.world.audience",
        "artbandit",
        "imaging",
    ):
        assert not any(m == forbidden or m.startswith(forbidden + ".") for m in out), (forbidden, out)
