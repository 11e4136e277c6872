"""The local engine: every item gives one result with its index; a failing task fails alone."""
from __future__ import annotations

import math

import pytest

from artbandit.jobs.engine import LocalEngine, make_engine


@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_results_and_errors(workers) -> None:
    with LocalEngine(workers) as engine:
        got = sorted(engine.imap(math.sqrt, [16.0, -1.0, 25.0, 1.0]), key=lambda r: r.index)
    assert [r.index for r in got] == [0, 1, 2, 3]
    assert [r.value for r in got] == [4.0, None, 5.0, 1.0]
    assert [r.ok for r in got] == [True, False, True, True]
    assert got[1].error == "ValueError: math domain error"


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        make_engine("spark")
