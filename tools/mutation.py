"""Mutation testing of the core modules, one module at a time, with only the tests of that module.

Why a runner: mutmut 3 reads its settings from the current directory and runs every selected test once
to map tests to functions. Over the whole project that is hours on a 2-core machine; per module, with
its own test file, it is minutes. The tests of a module are found by the layout, never by a hand-kept
map: `pkg/sub/module.py` is pinned by `tests/pkg/sub/test_module.py` (tests mirror the packages). For
each target this script builds a scratch directory `.mutation/<target>/` (symlinks to the packages and
tests, plus a generated pyproject.toml holding only `[tool.mutmut]` for that module), runs `mutmut run`
there, and writes the surviving mutants' diffs to `.mutation/<target>/survivors.txt`. The source tree
is never modified.

    pip install 'mutmut>=3.8,<4'          # in your venv; not a project dependency
    python tools/mutation.py --list       # the core targets and their tests
    python tools/mutation.py bandit/policies/base.py --workers 2
    python tools/mutation.py bandit.sampling              # any module, dotted or as a path
    python tools/mutation.py --survivors bandit/policies/base.py   # after adding tests: only the survivors

Exit status: 0 when no target has a survivor (or an untested mutant), 1 otherwise. See docs/testing.md.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
PACKAGES = ("bandit", "simulations", "imaging", "safeio", "artbandit")

# The core modules `python tools/mutation.py` mutates by default, in order of importance (issue 21),
# each with the functions worth mutating (mutmut mutant-name globs, `x_<function>` or
# `xǁ<Class>ǁ<method>`; empty: the whole module). Plumbing around VW, SQLite or HTTP is left out.
# Only in-process tests reach mutants (mutmut's trampolines do not follow a subprocess).
CORE: dict[str, tuple[str, ...]] = {
    "simulations/ope/estimators.py": (),
    "bandit/sampling.py": (),
    # ranking (the floored pmf, the draw, the logged probability) and learning from a logged probability
    "bandit/policies/base.py": ("xǁPolicyǁrank*", "xǁPolicyǁ_learn_prepared*", "xǁPolicyǁpredict*"),
    # every rule of an event's life after its rank
    "bandit/lifecycle/book.py": (),
    # the writing of decisions (pmf, probability, chosen action) and the reading back of them
    "bandit/log/eventlog.py": (
        "xǁEventLogǁappend*",
        "xǁEventLogǁset_reward*",
        "xǁEventLogǁflush*",
        "xǁEventLogǁ_commit*",
        "xǁEventLogǁ_resolve_sets*",
        "xǁEventLogǁ_iter_events*",
        "xǁEventLogǁ_rows*",
        "xǁEventLogǁiter_outcomes*",
    ),
    # the oracle and what is measured against it
    "simulations/online/metrics.py": (
        "x__prob*",
        "x__group_ids*",
        "x_baselines*",
        "x__values*",
        "x_uniform_values*",
        "x_reference_metrics*",
        "x_policy_metrics*",
    ),
    # the decision service around the event book: rank, reward, activation, event ids
    "bandit/service/decision_service.py": (
        "xǁDecisionServiceǁrank*",
        "xǁDecisionServiceǁ_decide*",
        "xǁDecisionServiceǁ_record*",
        "xǁDecisionServiceǁreward*",
        "xǁDecisionServiceǁ_reward*",
        "xǁDecisionServiceǁactivate*",
        "xǁDecisionServiceǁ_find*",
        "xǁDecisionServiceǁ_on_close*",
        "xǁDecisionServiceǁlearn_closed*",
        "xǁDecisionServiceǁ_new_event_id*",
        "xǁDecisionServiceǁ_id_used*",
    ),
    # the catalogue's plan and resume (what is skipped, rebuilt, retried) and its index/failures
    "artbandit/jobs/catalog_build.py": (
        "x_build_catalog*",
        "x__finish*",
        "x_clean_temporaries*",
        "x__check_extra_columns*",
    ),
    "artbandit/jobs/catalog_status.py": (),
    # imaging's final picking and the frame measurements it rests on
    "imaging/candidates/finalists.py": (),
    "imaging/candidates/diverse.py": (),
    "imaging/analysis/frame_metrics.py": (),
    "imaging/artwork/crop.py": (),
    "imaging/shots/boundaries.py": (),
    # evaluate's decision: the ship rule on intervals, the leaderboard order, the paired difference
    "simulations/ope/evaluate.py": (
        "x_verdict*",
        "x_leaderboard*",
        "x_decide*",
        "x__change*",
        "x__value*",
        "x_paired_difference*",
    ),
}


def module_path(name: str) -> str:
    """`bandit.sampling` or `bandit/sampling.py` -> `bandit/sampling.py` (relative to the checkout)."""
    path = name if name.endswith(".py") else name.replace(".", "/") + ".py"
    return Path(path).as_posix()


def tests_of(module: str) -> list[str]:
    """The module's test file by the layout (tests/<package path>/test_<module>.py), if it exists."""
    path = Path("tests") / Path(module).parent / f"test_{Path(module).stem}.py"
    return [path.as_posix()] if (ROOT / path).is_file() else []


def target_name(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def functions_of(module: str) -> tuple[str, ...]:
    """The target's mutant-name globs, with mutmut's module prefix."""
    return tuple(f"{target_name(module)}.{f}" for f in CORE.get(module, ()))


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def prepare(work: Path, module: str, tests: list[str]) -> Path:
    """A fresh scratch directory for one target: symlinked sources and tests, generated mutmut config."""
    if work.exists():
        shutil.rmtree(work)  # stale mutants of an older source would be reused by mutmut's cache
    work.mkdir(parents=True)
    for entry in (*PACKAGES, "tests"):
        (work / entry).symlink_to(ROOT / entry, target_is_directory=True)
    write_config(work, module, tests)
    return work


def write_config(work: Path, module: str, tests: list[str]) -> None:
    """The target's [tool.mutmut] settings (pytest must see the project's own settings too; mutmut
    copies this file into mutants/)."""
    (work / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        f"source_paths = {toml_list(list(PACKAGES))}\n"
        f"only_mutate = {toml_list([module])}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]\n'
        "\n[tool.pytest.ini_options]\n"
        'testpaths = ["tests"]\n',
        encoding="utf-8",
    )


def rerun_survivors(module: str, workers: int) -> dict[str, int]:
    """Run only the last run's survivors again, with the module's current tests (after adding tests:
    seconds instead of a full run). The mutants themselves are not regenerated: after a change to the
    module, do a full run."""
    name, work = target_name(module), scratch(module)
    if not (work / "mutants").is_dir():
        print(f"{name}: no run to rerun (run it first)")
        return {"error": 1}
    listing = mutmut(work, "results")
    names = [
        m.group(1)
        for line in listing.stdout.splitlines()
        if (m := RESULT_LINE.match(line)) and m.group(2) == "survived"
    ]
    if names:
        write_config(work, module, tests_of(module))
        print(f"{name}: rerunning {len(names)} survivors", flush=True)
        run = mutmut(work, "run", "--max-children", str(workers), *names)
        (work / "rerun.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    return report(module)


def mutmut(work: Path, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if exe is None:
        sys.exit("mutation: mutmut is not installed in this venv: pip install 'mutmut>=3.8,<4'")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([exe, *args], cwd=work, env=env, capture_output=True, text=True)


RESULT_LINE = re.compile(r"^\s*(\S+): (\w[\w ]*)\Z")


def scratch(module: str) -> Path:
    return WORK / target_name(module)


def run_target(module: str, workers: int) -> dict[str, int]:
    """Mutate one module from scratch with its own tests, then report on it (see `report`)."""
    name = target_name(module)
    if not (ROOT / module).exists():
        print(f"{name}: {module} does not exist on this branch, skipped")
        return {}
    tests = tests_of(module)
    if not tests:
        print(f"{name}: no test file tests/{Path(module).parent.as_posix()}/test_{Path(module).stem}.py")
        return {"error": 1}
    work = prepare(scratch(module), module, tests)
    print(f"{name}: mutating {module} with {' '.join(tests)}", flush=True)
    run = mutmut(work, "run", "--max-children", str(workers), *functions_of(module))
    (work / "run.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).splitlines()[-15:])
        print(f"{name}: mutmut failed (exit {run.returncode}); see {work / 'run.log'}\n{tail}")
        return {"error": 1}
    return report(module)


def report(module: str) -> dict[str, int]:
    """Counts by status of the module's last run; writes survivors.txt with each non-killed diff."""
    name, work, functions = target_name(module), scratch(module), functions_of(module)
    if not (work / "mutants").is_dir():
        print(f"{name}: no run to report on (run it first)")
        return {"error": 1}
    listing = mutmut(work, "results", "--all", "true")
    counts: dict[str, int] = {}
    not_killed: list[tuple[str, str]] = []
    for line in listing.stdout.splitlines():
        m = RESULT_LINE.match(line)
        if not m:
            continue
        mutant, status = m.group(1), m.group(2)
        if functions and not any(fnmatch.fnmatchcase(mutant, f) for f in functions):
            continue  # generated but not run: outside the target's functions
        counts[status] = counts.get(status, 0) + 1
        if status not in ("killed", "not checked"):  # "not checked": an interrupted run
            not_killed.append((mutant, status))
    with open(work / "survivors.txt", "w", encoding="utf-8") as out:
        for mutant, _status in not_killed:
            out.write(mutmut(work, "show", mutant).stdout + "\n")  # starts with "# <mutant>: <status>"
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{name}: {summary}; not killed: {len(not_killed)} (diffs in {work / 'survivors.txt'})", flush=True)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "targets", nargs="*", help="modules to mutate, as paths or dotted names (default: the core modules, see --list)"
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel mutants (default 2: a shared 2-core box)")
    parser.add_argument("--list", action="store_true", help="list the targets and their test files")
    parser.add_argument("--report", action="store_true", help="only report on the targets' last runs")
    parser.add_argument(
        "--survivors", action="store_true", help="rerun only the last run's survivors with the current tests"
    )
    args = parser.parse_args(argv)
    modules = [module_path(t) for t in args.targets] or list(CORE)
    unknown = [m for m in modules if not (ROOT / m).is_file()]
    if unknown and args.targets:
        parser.error(f"no such module: {', '.join(unknown)}")
    if args.list:
        for module in modules:
            print(f"{module:40} {' '.join(tests_of(module)) or '(no test file)'}")
        return 0
    bad = 0
    for module in modules:
        if args.report:
            counts = report(module)
        elif args.survivors:
            counts = rerun_survivors(module, args.workers)
        else:
            counts = run_target(module, args.workers)
        bad += sum(v for k, v in counts.items() if k != "killed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
