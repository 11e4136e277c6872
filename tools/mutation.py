"""Mutation testing of the core modules, one module at a time, with only the tests relevant to it.

Why a runner: mutmut 3 reads its settings from the current directory and runs every selected test once
to map tests to functions. Over the whole project that is hours on a 2-core machine; per module, with
its own test files, it is minutes. For each target this script builds a scratch directory
`.mutation/<target>/` (symlinks to the packages and tests, plus a generated pyproject.toml holding only
`[tool.mutmut]` for that module), runs `mutmut run` there, and writes the surviving mutants' diffs to
`.mutation/<target>/survivors.txt`. The source tree is never modified.

    pip install 'mutmut>=3.8,<4'          # in your venv; not a project dependency
    python tools/mutation.py --list       # the targets and their tests
    python tools/mutation.py estimators policy --workers 2
    python tools/mutation.py --survivors policy     # after adding tests: rerun only the survivors
    python tools/mutation.py --baseline policy      # without tests/test_mutants_*.py ("before")

Exit status: 0 when no target has a survivor (or an untested mutant), 1 otherwise. See docs/testing.md.
"""
from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
PACKAGES = ("bandit", "simulations", "imaging", "safeio", "artbandit")


@dataclass(frozen=True)
class Target:
    """One module to mutate, the test files (globs) that pin its behaviour, and optionally which of
    its functions to mutate (mutmut mutant-name globs; empty: the whole module)."""

    module: str
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()


# Order: importance (issue 21). Test globs that match nothing are skipped, so a target keeps working
# while helpers add or rename test files.
TARGETS: dict[str, Target] = {
    "estimators": Target(
        "simulations/ope/estimators.py",
        ("tests/test_replay_estimators.py", "tests/test_replay_exact.py", "tests/test_mutants_estimators.py"),
    ),
    "sampling": Target(
        "bandit/sampling.py",
        ("tests/test_bandit_policy.py", "tests/test_bandit_eventlog.py", "tests/test_mutants_policy.py",
         "tests/test_mutants_sampling.py"),
    ),
    # policy.py is mostly plumbing around VW; ranking (the floored pmf, the draw, the logged probability)
    # and learning from a logged probability are the core
    "policy": Target(
        "bandit/policies/base.py",
        ("tests/test_bandit_policy.py", "tests/test_bandit_defaults.py", "tests/test_mutants_policy.py"),
        ("bandit.policies.base.xǁPolicyǁrank*", "bandit.policies.base.xǁPolicyǁ_learn_prepared*", "bandit.policies.base.xǁPolicyǁpredict*"),
    ),
    # the writing of decisions (pmf, probability, chosen action) and the reading back of them
    "eventlog": Target(
        "bandit/log/eventlog.py",
        ("tests/test_bandit_eventlog.py", "tests/test_mutants_eventlog.py"),
        ("bandit.log.eventlog.xǁEventLogǁappend*", "bandit.log.eventlog.xǁEventLogǁset_reward*",
         "bandit.log.eventlog.xǁEventLogǁflush*", "bandit.log.eventlog.xǁEventLogǁ_commit*",
         "bandit.log.eventlog.xǁEventLogǁ_resolve_sets*", "bandit.log.eventlog.xǁEventLogǁ_iter_events*",
         "bandit.log.eventlog.xǁEventLogǁ_rows*", "bandit.log.eventlog.xǁEventLogǁiter_outcomes*"),
    ),
    # the oracle and what is measured against it; the exposure audit and time series are reporting
    "metrics": Target(
        "simulations/metrics.py",
        ("tests/test_metrics_truth.py", "tests/test_mutants_metrics.py"),
        ("simulations.metrics.x__prob*", "simulations.metrics.x__group_ids*", "simulations.metrics.x_baselines*",
         "simulations.metrics.x__values*", "simulations.metrics.x_uniform_values*",
         "simulations.metrics.x_reference_metrics*", "simulations.metrics.x_policy_metrics*"),
    ),
    # issue 28: the decision service's lifecycle core (rank, reward, expiry, event ids). Only tests
    # that drive DecisionService in-process count: mutmut's trampolines do not reach the `artbandit
    # serve` subprocess of tests/test_serve_*.py, whose tests therefore neither map nor kill mutants.
    "service": Target(
        "bandit/service/decision_service.py",
        ("tests/test_service_select.py", "tests/test_drift_clock.py", "tests/test_bandit_drift_log.py",
         "tests/test_serve_*.py", "tests/test_mutants_service.py"),
        ("bandit.service.decision_service.xǁDecisionServiceǁrank*", "bandit.service.decision_service.xǁDecisionServiceǁ_decide*",
         "bandit.service.decision_service.xǁDecisionServiceǁ_record*", "bandit.service.decision_service.xǁDecisionServiceǁreward*",
         "bandit.service.decision_service.xǁDecisionServiceǁ_reward*", "bandit.service.decision_service.xǁDecisionServiceǁactivate*",
         "bandit.service.decision_service.xǁDecisionServiceǁ_find*", "bandit.service.decision_service.xǁDecisionServiceǁexpire*",
         "bandit.service.decision_service.xǁDecisionServiceǁ_close*", "bandit.service.decision_service.xǁDecisionServiceǁlearn_closed*",
         "bandit.service.decision_service.xǁDecisionServiceǁ_new_event_id*", "bandit.service.decision_service.xǁDecisionServiceǁ_id_used*"),
    ),
    # the catalogue's plan and resume (what is skipped, rebuilt, retried) and its index/failures
    "catalog": Target(
        "artbandit/jobs/catalog_build.py",
        ("tests/test_catalog_build.py", "tests/test_mutants_catalog.py"),
        ("artbandit.jobs.catalog_build.x_build_catalog*", "artbandit.jobs.catalog_build.x__finish*",
         "artbandit.jobs.catalog_build.x_clean_temporaries*", "artbandit.jobs.catalog_build.x__check_extra_columns*"),
    ),
    "catalog_status": Target(
        "artbandit/jobs/catalog_status.py",
        ("tests/test_catalog_build.py", "tests/test_catalog_resume.py", "tests/test_mutants_catalog.py"),
    ),
    # imaging's final picking: the candidates' crop, faces, score order (select.py is `select`)
    "picking": Target(
        "imaging/picking.py",
        ("tests/test_extract.py", "tests/test_imaging_rules.py", "tests/test_imaging_artwork.py",
         "tests/test_mutants_picking.py"),
    ),
    "select": Target(
        "imaging/select.py",
        ("tests/test_extract.py", "tests/test_mutants_select.py"),
    ),
    "frame_metrics": Target(
        "imaging/frame_metrics.py",
        ("tests/test_extract.py", "tests/test_extract_*.py", "tests/test_mutants_frame_metrics.py"),
    ),
    "crop": Target(
        "imaging/crop.py",
        ("tests/test_variants_crop.py", "tests/test_mutants_crop.py"),
    ),
    "shots": Target(
        "imaging/shots.py",
        ("tests/test_extract.py", "tests/test_extract_*.py", "tests/test_mutants_shots.py"),
    ),
    # evaluate's decision: the ship rule on intervals, the leaderboard order, references never winning,
    # the paired difference. Not tests/test_evaluate_truth.py: its VW-heavy evaluations crash (SIGSEGV)
    # in mutmut's forked children, so every mutant that reaches them reads "segfault"
    "decision": Target(
        "simulations/ope/evaluate.py",
        ("tests/test_evaluate_decision.py", "tests/test_mutants_evaluate.py", "tests/test_evaluate_cli.py"),
        ("simulations.ope.evaluate.x_verdict*", "simulations.ope.evaluate.x_leaderboard*",
         "simulations.ope.evaluate.x_decide*", "simulations.ope.evaluate.x__change*",
         "simulations.ope.evaluate.x__value*", "simulations.ope.evaluate.x_paired_difference*"),
    ),
}


def test_files(target: Target, baseline: bool = False) -> list[str]:
    """The existing test files of a target, relative to the repository root, without repeats
    (baseline: without the tests written to kill mutants, tests/test_mutants_*.py)."""
    out: list[str] = []
    for pattern in target.tests:
        for path in sorted(glob.glob(pattern, root_dir=ROOT)):
            if baseline and Path(path).name.startswith("test_mutants_"):
                continue
            if path not in out and not path.endswith("_helpers.py"):
                out.append(path)
    return out


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def prepare(work: Path, target: Target, tests: list[str]) -> Path:
    """A fresh scratch directory for one target: symlinked sources and tests, generated mutmut config."""
    if work.exists():
        shutil.rmtree(work)  # stale mutants of an older source would be reused by mutmut's cache
    work.mkdir(parents=True)
    for entry in (*PACKAGES, "tests"):
        (work / entry).symlink_to(ROOT / entry, target_is_directory=True)
    write_config(work, target, tests)
    return work


def write_config(work: Path, target: Target, tests: list[str]) -> None:
    """The target's [tool.mutmut] settings (pytest must see the project's own settings too; mutmut
    copies this file into mutants/)."""
    (work / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        f"source_paths = {toml_list(list(PACKAGES))}\n"
        f"only_mutate = {toml_list([target.module])}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-x", "-q"]\n'
        "\n[tool.pytest.ini_options]\n"
        'testpaths = ["tests"]\n',
        encoding="utf-8",
    )


def rerun_survivors(name: str, workers: int) -> dict[str, int]:
    """Run only the last run's survivors again, with the target's current tests (after adding tests:
    seconds instead of a full run). The mutants themselves are not regenerated: after a change to the
    module, do a full run."""
    target, work = TARGETS[name], scratch(name, False)
    if not (work / "mutants").is_dir():
        print(f"{name}: no run to rerun (run it first)")
        return {"error": 1}
    listing = mutmut(work, "results")
    names = [m.group(1) for line in listing.stdout.splitlines() if (m := RESULT_LINE.match(line))
             and m.group(2) == "survived"]
    if names:
        write_config(work, target, test_files(target))
        print(f"{name}: rerunning {len(names)} survivors", flush=True)
        run = mutmut(work, "run", "--max-children", str(workers), *names)
        (work / "rerun.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    return report(name)


def mutmut(work: Path, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if exe is None:
        sys.exit("mutation: mutmut is not installed in this venv: pip install 'mutmut>=3.8,<4'")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([exe, *args], cwd=work, env=env, capture_output=True, text=True)


RESULT_LINE = re.compile(r"^\s*(\S+): (\w[\w ]*)\Z")


def scratch(name: str, baseline: bool) -> Path:
    return WORK / (f"{name}-baseline" if baseline else name)


def run_target(name: str, workers: int, baseline: bool = False) -> dict[str, int]:
    """Mutate one target from scratch, then report on it (see `report`)."""
    target = TARGETS[name]
    if not (ROOT / target.module).exists():
        print(f"{name}: {target.module} does not exist on this branch, skipped")
        return {}
    tests = test_files(target, baseline)
    work = prepare(scratch(name, baseline), target, tests)
    print(f"{name}: mutating {target.module} with {len(tests)} test files: {' '.join(tests)}", flush=True)
    run = mutmut(work, "run", "--max-children", str(workers), *target.functions)
    (work / "run.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    if run.returncode != 0:
        tail = "\n".join((run.stdout + run.stderr).splitlines()[-15:])
        print(f"{name}: mutmut failed (exit {run.returncode}); see {work / 'run.log'}\n{tail}")
        return {"error": 1}
    return report(name, baseline)


def report(name: str, baseline: bool = False) -> dict[str, int]:
    """Counts by status of the target's last run; writes survivors.txt with each non-killed diff."""
    target, work = TARGETS[name], scratch(name, baseline)
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
        if target.functions and not any(fnmatch.fnmatchcase(mutant, f) for f in target.functions):
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
    parser.add_argument("targets", nargs="*", help=f"targets to mutate (default: all): {', '.join(TARGETS)}")
    parser.add_argument("--workers", type=int, default=2, help="parallel mutants (default 2: a shared 2-core box)")
    parser.add_argument("--list", action="store_true", help="list the targets and their test files")
    parser.add_argument("--report", action="store_true", help="only report on the targets' last runs")
    parser.add_argument("--survivors", action="store_true",
                        help="rerun only the last run's survivors with the current tests")
    parser.add_argument("--baseline", action="store_true",
                        help="without tests/test_mutants_*.py (the 'before' column of docs/testing.md)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; valid: {', '.join(TARGETS)}")
    names = args.targets or list(TARGETS)
    if args.list:
        for name in names:
            print(f"{name:18} {TARGETS[name].module:32} {' '.join(test_files(TARGETS[name], args.baseline))}")
        return 0
    bad = 0
    for name in names:
        if args.report:
            counts = report(name, args.baseline)
        elif args.survivors:
            counts = rerun_survivors(name, args.workers)
        else:
            counts = run_target(name, args.workers, args.baseline)
        bad += sum(v for k, v in counts.items() if k != "killed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
