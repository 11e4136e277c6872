"""Benchmark: candidates evaluated per minute by `evaluate` on a simulator log, one process vs a
local pool of 2 vs Ray on 2 CPUs (same candidates, same numbers: checked at the end).

    python bench/evaluate.py [--events 100000] [--candidates 6]

The log is a uniform-logged `segments` simulation (contexts never repeat exactly: viewers x time of
day x titles). The shared passes (reward model) are timed apart from the candidates. Wall-clock on a
shared 2-core machine: other work running at the same time moves these figures a lot.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from safeio.engine import make_engine  # noqa: E402
from simulations.online.runner import run_simulation  # noqa: E402
from simulations.ope.policies import DEFAULT_GRID  # noqa: E402
from simulations.ope.readers import open_log  # noqa: E402
from simulations.ope.scoring import LogRef, Task, prepare, score_all  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--candidates", type=int, default=6)
    args = ap.parse_args()
    specs = [s for s in DEFAULT_GRID if s.startswith("vw")][: args.candidates]
    with tempfile.TemporaryDirectory() as tmp:
        run_simulation(
            "segments",
            ["uniform"],
            impressions=args.events,
            seed=0,
            log_policy="uniform",
            out_dir=Path(tmp) / "sim",
            report=False,
        )
        log = Path(tmp) / "sim" / "events.sqlite"
        src = open_log(log)
        ref = LogRef(str(log), src.format, src.mapping)
        t = time.perf_counter()
        prepare(ref, Path(tmp) / "prep.npz")
        print(f"shared passes (reward model + q for every event): {time.perf_counter() - t:.1f} s")
        tasks = [Task(ref, str(Path(tmp) / "prep.npz"), s) for s in specs]
        results = {}
        engines = [("1 process", None), ("local pool, 2 processes", lambda: make_engine("local", workers=2))]
        try:
            import safeio.engine.ray  # noqa: F401

            engines.append(("ray, 2 CPUs", lambda: make_engine("ray", workers=2)))
        except ImportError:
            print("ray engine not available (safeio.engine.ray): row skipped")
        for label, factory in engines:
            t = time.perf_counter()
            if factory is None:
                out = score_all(tasks)
            else:
                with factory() as eng:
                    out = score_all(tasks, eng)
            wall = time.perf_counter() - t
            results[label] = out
            print(
                f"{label:26s} {len(tasks)} candidates x {args.events} events in {wall:6.1f} s: "
                f"{60 * len(tasks) / wall:5.2f} candidates/min"
            )
        first = next(iter(results.values()))
        same = all(all((a[k] == b[k]).all() for k in a) for r in results.values() for a, b in zip(first, r))
        print("identical per-event arrays on every engine:", same)


if __name__ == "__main__":
    main()
