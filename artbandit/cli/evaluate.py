"""`artbandit evaluate`: which policy should ship? Candidates replayed over a log, a leaderboard with
intervals, a winner and a recommendation; optionally feature importance and applying the winner."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from artbandit.cli.common import progress_bar as progress, quiet_option, say

# The libraries' own names, from import-free modules: `artbandit evaluate --help` loads no numpy or VW.
from safeio.engine import ENGINES
from simulations.ope.choices import FORMATS

_REFERENCES = ("logged", "baseline", "uniform", "best-fixed")


@click.command()
@click.argument("log", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="Output folder: evaluation.json and report.html.",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    help="Candidate (repeatable): vw:<exploration> [VW args], e.g. 'vw:squarecb --gamma_scale 50', "
    "linucb, ts-per-title, uniform, baseline, best-fixed, model:DIR. Default: a grid of VW settings. "
    "The logged policy, baseline, uniform and best-fixed are always included.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=ENGINES[0],
    show_default=True,
    help="Where candidates run (ray: pip install 'artbandit[ray]').",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes (local) or CPUs (ray) for the candidates; default: all cores.",
)
@click.option("--importance", is_flag=True, help="Also leave each feature group out in turn (feature importance).")
@click.option(
    "--apply",
    "apply_dir",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="If the decision is to ship: write the winner as a model folder, warm-started on the whole "
    "log (VW winners only). A new or empty folder, or an earlier model folder.",
)
@click.option(
    "--apply-anyway", is_flag=True, help="With --apply: write the winner even when the decision is not to ship."
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--action-col", default="action", show_default=True, help="CSV/JSONL/Parquet: chosen action id.")
@click.option("--reward-col", default="reward", show_default=True, help="CSV/JSONL/Parquet: reward.")
@click.option(
    "--propensity-col",
    default="propensity",
    show_default=True,
    help="CSV/JSONL/Parquet: logging probability of the chosen action.",
)
@click.option("--context-cols", default="", help="Comma-separated context columns or glob patterns.")
@click.option("--candidates-col", default=None, help="Column listing each event's candidates.")
@click.option("--timestamp-col", default=None, help="Column with the event time.")
@click.option(
    "--buckets",
    type=click.IntRange(min=1, max=100),
    default=10,
    show_default=True,
    help="Time buckets (equal numbers of events) for the estimates over time.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an earlier evaluate output of another log.")
@quiet_option
def evaluate(
    log: str,
    out: str | None,
    policies: tuple[str, ...],
    engine: str,
    workers: int | None,
    importance: bool,
    apply_dir: str | None,
    apply_anyway: bool,
    fmt: str,
    action_col: str,
    reward_col: str,
    propensity_col: str,
    context_cols: str,
    candidates_col: str | None,
    timestamp_col: str | None,
    buckets: int,
    seed: int,
    force: bool,
    quiet: bool,
) -> None:
    """Replay every candidate policy over LOG in time order (learning as it goes) and rank them by
    doubly-robust and SNIPS estimates with intervals; say whether the winner is clearly better than
    the policy that wrote the log."""
    from safeio.atomic import atomic_dir
    from safeio.engine import make_engine
    from safeio.jsonl import json_safe
    from safeio.outdir import OutputFolder
    from simulations.errors import SimulationError
    from simulations.ope.evaluate import evaluate as run_evaluation
    from simulations.ope.policies import DEFAULT_GRID
    from simulations.ope.readers import ColumnMapping, open_log

    if out is None and apply_dir is None:
        raise click.UsageError("give -o OUT (report) and/or --apply MODEL_DIR")
    if apply_anyway and apply_dir is None:
        raise click.UsageError("--apply-anyway goes with --apply MODEL_DIR")
    if out is not None and apply_dir is not None and _overlap(Path(out), Path(apply_dir)):
        raise click.ClickException(
            f"--apply {apply_dir} and -o {out} overlap: the model would replace the "
            "evaluation (or the other way round); choose two separate folders"
        )
    mapping = ColumnMapping(
        action_col=action_col,
        reward_col=reward_col,
        propensity_col=propensity_col,
        context_cols=[c.strip() for c in context_cols.split(",") if c.strip()],
        candidates_col=candidates_col,
        timestamp_col=timestamp_col,
    )
    candidates = list(_REFERENCES) + list(policies) if policies else list(DEFAULT_GRID)
    folder = None
    if out is not None:
        key = {"log": str(Path(log).resolve()), "candidates": candidates, "seed": seed}
        folder = OutputFolder(Path(out), "evaluate", inputs=[log], input_key=key)
        folder.check(force=force)
    if apply_dir is not None:
        _check_model_dir(Path(apply_dir), log)
    source = open_log(log, fmt, mapping)
    events = max(1, source.approx_events())
    with tempfile.TemporaryDirectory(prefix="artbandit-evaluate-") as work, make_engine(engine, workers=workers) as eng:
        # unit: events read; the shared passes read the log twice, each candidate once
        with progress(length=(2 + len(candidates)) * events, label="evaluating", quiet=quiet) as bar:
            result = run_evaluation(
                log,
                work,
                candidates,
                fmt=fmt,
                mapping=mapping,
                seed=seed,
                buckets=buckets,
                engine=eng,
                importance=importance,
                on_events=bar.update,
                on_task=lambda k: bar.update(k * events),
            )
    result["settings"]["engine"] = engine
    if folder is not None:
        from simulations.ope.evalreport import write_evaluation_report

        assert out is not None  # a folder is made only for -o OUT

        with atomic_dir(Path(out)) as tmp:
            (tmp / "evaluation.json").write_text(json.dumps(json_safe(result), indent=2) + "\n", "utf-8")
            write_evaluation_report(result, tmp / "report.html")
            folder.write_marker(tmp)
    click.echo(format_leaderboard(result))
    click.echo(result["decision"]["recommendation"])
    if apply_dir is not None:
        winner = result["decision"]["winner"]
        if result["decision"].get("action") != "ship" and not apply_anyway:
            click.echo(
                f"Nothing written to {apply_dir}: the decision is not to ship "
                "(--apply-anyway writes the winner regardless)."
            )
        elif not winner or not winner.startswith("vw"):
            raise SimulationError(
                f"the winner {winner!r} is not a VW policy: nothing to apply (no model written to {apply_dir})"
            )
        else:
            _apply(winner, log, fmt, mapping, seed, Path(apply_dir))
            say(f"winner {winner} warm-started on {result['log']['events']} events -> {apply_dir}", quiet)
    if out is not None:
        say(f"-> {out}/evaluation.json, {out}/report.html", quiet)


def _overlap(a: Path, b: Path) -> bool:
    """Whether two folders are the same or one holds the other (symlinks resolved)."""
    ra, rb = a.resolve(), b.resolve()
    return ra == rb or ra in rb.parents or rb in ra.parents


def _check_model_dir(path: Path, log: str) -> None:
    """--apply writes a new or empty folder or replaces an earlier model folder holding only what a
    save writes (bandit.policies.model_io.check_model_target, the rule every model save follows), checked
    before the evaluation starts."""
    from bandit.policies.model_io import check_model_target

    if Path(log).resolve() == path.resolve() or path.resolve() in Path(log).resolve().parents:
        raise click.ClickException(f"{path}: the model folder would contain the log")
    check_model_target(path)  # a one-line BanditError; nothing is changed


def _apply(spec: str, log: str, fmt: str, mapping, seed: int, path: Path) -> None:
    """Build the winner, learn from every logged event in order, save it atomically."""
    from simulations.ope.policies import build_policy
    from simulations.ope.readers import open_log

    policy = build_policy(spec, seed=seed)  # a VWPolicy, or vw:select's Personalizer
    for chunk in open_log(log, fmt, mapping).chunks():
        for ev in chunk:
            policy.learn(ev.context, ev.actions, ev.chosen_index, ev.reward, ev.probability)
    policy.save(path)


def format_leaderboard(result: dict) -> str:
    """Candidates by DR value, best first, with intervals, as an aligned text table. '#' ranks the
    deployable candidates (references are marked 'ref'); a missing estimate prints as '-', never nan."""
    from artbandit.text import number as _num
    from simulations.ope.evaluate import leaderboard

    conf = result["settings"]["confidence"]
    rows = [["#", "policy", "DR", f"{conf:.0%} interval", "SNIPS", "ESS"]]
    for rank, p in leaderboard(result["policies"]):
        d, s = p["estimates"]["dr"], p["estimates"]["snips"]
        rows.append(
            [
                "ref" if rank is None else str(rank),
                p["name"] + (" (ref)" if rank is None else ""),
                _num(d["value"]),
                f"[{_num(d['low'])}, {_num(d['high'])}]",
                _num(s["value"]),
                _num(d["diagnostics"]["ess"], "{:.0f}"),
            ]
        )
    for p in result["policies"]:
        if "error" in p:
            rows.append(["-", p["name"], "error", p["error"], "", ""])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i == 1 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows
    )
