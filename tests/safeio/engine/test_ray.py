"""The Ray engine gives what the local pool gives: the same catalogue index, the same replay results.

One local Ray for the module (2 CPUs, a small object store), shut down at the end; RayEngine uses
it as it is and leaves it running (it shuts down only a Ray it started itself).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from artbandit.jobs.catalog_build import build_catalog
from artbandit.jobs.catalog_title import CatalogOptions
from artbandit.jobs.replay_job import replay_policies
from safeio.engine.local import LocalEngine
from tests.catalog_helpers import make_catalogue, run_cli
from tests.replay_helpers import make_world, simulate_log, write_jsonl

ray = pytest.importorskip("ray")
from safeio.engine.ray import RayEngine  # noqa: E402

OPTS = CatalogOptions(k=3, aspects=("16:9", "1:1"), width=160, treatments=("none", "cool"))


@pytest.fixture(scope="module")
def sim_log(tmp_path_factory):
    world = make_world(seed=4, segments=3, k=4)
    path = tmp_path_factory.mktemp("log") / "log.jsonl"
    write_jsonl(path, simulate_log(world, 3000, "uniform", seed=5), world)
    return path


def test_replay_cli_engine_ray_writes_the_local_result(sim_log, tmp_path) -> None:
    """First in the module, so the CLI's own Ray (started and shut down by the command) is the only one."""
    from safeio.jsonl import json_safe
    from simulations.ope.replay import replay_log

    proc = run_cli(
        "replay",
        str(sim_log),
        "--policy",
        "uniform",
        "--policy",
        "vw:epsilon",
        "--seed",
        "1",
        "-q",
        "-o",
        str(tmp_path / "ray"),
        "--engine",
        "ray",
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    local = replay_log(sim_log, ["uniform", "vw:epsilon"], ["snips", "dr"], seed=1)
    assert (tmp_path / "ray" / "replay.json").read_text() == json.dumps(json_safe(local), indent=2) + "\n"
    # the same output rules as the local path, checked before Ray starts
    again = run_cli(
        "replay",
        str(sim_log),
        "--policy",
        "uniform",
        "--policy",
        "vw:epsilon",
        "--seed",
        "1",
        "-q",
        "-o",
        str(tmp_path / "ray"),
        "--engine",
        "ray",
    )
    assert again.returncode == 1 and "already holds this replay's output" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def local_ray():
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="error",
    )
    yield
    ray.shutdown()


def test_ray_and_local_engines_build_the_same_index(local_ray, tmp_path) -> None:
    table = make_catalogue(tmp_path, 4, broken=1)
    with LocalEngine(2) as engine:
        local = build_catalog(table, tmp_path / "local", engine, OPTS)
    with RayEngine() as engine:
        assert engine.workers == 2
        on_ray = build_catalog(table, tmp_path / "ray", engine, OPTS)
    assert ray.is_initialized()  # the fixture's Ray is left to the fixture
    assert (local.built, len(local.failures)) == (on_ray.built, len(on_ray.failures)) == (4, 1)
    a = pq.read_table(tmp_path / "local" / "catalog.parquet")
    b = pq.read_table(tmp_path / "ray" / "catalog.parquet")
    assert a.num_rows > 8 and a.equals(b)  # ids, files, every feature: equal
    assert (tmp_path / "local" / "failures.jsonl").read_text() == (tmp_path / "ray" / "failures.jsonl").read_text()
    pids = {
        json.loads((tmp_path / "ray" / "titles" / f"t{i}" / "title.json").read_text())["worker_pid"] for i in range(4)
    }
    assert os.getpid() not in pids  # the titles really ran in Ray workers


def test_task_errors_become_results_not_exceptions(local_ray) -> None:
    with RayEngine() as engine:
        got = sorted(engine.imap(math.sqrt, [4.0, -1.0, 9.0]), key=lambda r: r.index)
    assert [r.value for r in got] == [2.0, None, 3.0]
    assert got[1].error == "ValueError: math domain error"


POLICIES = ["uniform", "vw:epsilon", "best-fixed", "vw:epsilon"]


def test_replay_one_policy_per_ray_task_equals_the_local_run(local_ray, sim_log) -> None:
    from simulations.ope.replay import replay_log

    local = replay_log(sim_log, POLICIES, ["snips", "dr"], seed=3, chunk_size=700)
    with RayEngine() as engine:
        on_ray = replay_policies(engine, sim_log, POLICIES, ["snips", "dr"], seed=3, chunk_size=700)
    assert (
        [p["name"] for p in on_ray["policies"]]
        == [p["name"] for p in local["policies"]]
        == ["uniform", "vw:epsilon#1", "best-fixed", "vw:epsilon#2"]
    )
    assert on_ray == local
    values = [p["estimates"]["snips"]["value"] for p in local["policies"]]
    assert len({round(v, 6) for v in values}) >= 2 and all(np.isfinite(values))
