"""The local engine: every item gives one result with its index; a failing task fails alone."""

from __future__ import annotations

import math
import os
import time

import pytest

from safeio.engine import make_engine
from safeio.engine.base import EngineError
from safeio.engine.local import LocalEngine


@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_results_and_errors(workers) -> None:
    with LocalEngine(workers) as engine:
        got = sorted(engine.imap(math.sqrt, [16.0, -1.0, 25.0, 1.0]), key=lambda r: r.index)
    assert [r.index for r in got] == [0, 1, 2, 3]
    assert [r.value for r in got] == [4.0, None, 5.0, 1.0]
    assert [r.ok for r in got] == [True, False, True, True]
    assert got[1].error == "ValueError: math domain error"


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(EngineError, match="unknown engine 'spark'"):
        make_engine("spark")


def crash_on(item: str) -> str:
    """A task that kills its own worker process for one item (as a segfaulting decoder would)."""
    if item == "crash":
        os._exit(3)
    time.sleep(0.2)
    return item.upper()


def test_a_task_that_kills_its_worker_fails_alone() -> None:
    items = ["a", "b", "crash", "c", "d", "e"]
    with LocalEngine(2) as engine:
        got = sorted(engine.imap(crash_on, items), key=lambda r: r.index)
        again = sorted(engine.imap(crash_on, ["x", "y"]), key=lambda r: r.index)  # the engine still works
    assert [r.index for r in got] == list(range(len(items)))
    assert [r.value for r in got] == ["A", "B", None, "C", "D", "E"]
    assert "worker process died" in got[2].error
    assert [r.value for r in again] == ["X", "Y"]
