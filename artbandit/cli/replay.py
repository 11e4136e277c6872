"""`artbandit replay`: how would policy X have done on my logs? Off-policy estimates with intervals."""

from __future__ import annotations

import json
import threading
from typing import Callable

import click

from artbandit.cli.common import progress_bar as progress, quiet_option, say
from artbandit.text import plural

# The libraries' own names, from light modules: `artbandit --help` loads no numpy or VW.
from safeio.engine import ENGINES
from simulations.ope.choices import DEFAULT_ESTIMATORS, DEFAULT_POLICIES, ESTIMATORS, FORMATS, LEARN_ON


@click.command()
@click.argument("log", type=click.Path(dir_okay=False, path_type=str))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Log format (auto: SQLite/Parquet magic bytes, extension, first JSON line).",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    help="Target policy (repeatable): a make_policy spec (vw:squarecb, vw:epsilon, vw:softmax, "
    "vw:bag, vw:cover, uniform, ts-per-title, linucb; a vw spec may carry allowed VW arguments, "
    "e.g. 'vw:squarecb --gamma_scale 50'), logged (the logging policy itself), "
    "best-fixed, or model:DIR (a saved model). Default: " + ", ".join(DEFAULT_POLICIES) + ".",
)
@click.option(
    "--estimator",
    "estimators",
    multiple=True,
    type=click.Choice(ESTIMATORS),
    help=f"Estimator (repeatable). Default: {' and '.join(DEFAULT_ESTIMATORS)}.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Bootstrap replicates for the intervals (0: asymptotic delta-method intervals).",
)
@click.option("--confidence", type=click.FloatRange(0.5, 0.999), default=0.95, show_default=True)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for policies, replay's sampled actions, the reward-model split and the bootstrap.",
)
@click.option(
    "--learn",
    "learn_on",
    type=click.Choice(LEARN_ON),
    default=LEARN_ON[0],
    show_default=True,
    help="Policies learn from every logged event, or only where their sampled action matched "
    "(Li et al.'s replay of a learning policy).",
)
@click.option("--action-col", default="action", show_default=True, help="CSV/JSONL/Parquet: chosen action id.")
@click.option("--reward-col", default="reward", show_default=True, help="CSV/JSONL/Parquet: reward.")
@click.option(
    "--propensity-col",
    default="propensity",
    show_default=True,
    help="CSV/JSONL/Parquet: logging probability of the chosen action (absent: uniform assumed).",
)
@click.option(
    "--context-cols",
    default="",
    help="Comma-separated context columns or glob patterns (default: every unmapped column).",
)
@click.option(
    "--candidates-col",
    default=None,
    help="Column listing each event's candidates (JSON list or a|b|c). Absent: all actions seen.",
)
@click.option("--timestamp-col", default=None, help="Column with the event time (seconds or ISO 8601).")
@click.option(
    "--position-col",
    default=None,
    help="Slate logs (one row per slot, e.g. the Open Bandit Dataset's 'position'): weights use the "
    "policy's probability of the item at that slot (obp's IPW with position).",
)
@click.option(
    "--action-features",
    type=click.Path(dir_okay=False, path_type=str),
    default=None,
    help="CSV/JSONL/Parquet table of action features, one row per action.",
)
@click.option(
    "--action-key", default="action", show_default=True, help="Column of --action-features holding the action id."
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Events read per chunk (memory stays bounded for any log size).",
)
@click.option(
    "--max-bad-lines",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Skip and count up to N malformed lines (reported in replay.json); 0 stops at the first, "
    "naming the file and line.",
)
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Output folder: replay.json and report.html.",
)
@click.option(
    "--force", is_flag=True, help="Replace an earlier replay output in OUT (never a folder artbandit did not write)."
)
@click.option("--json", "as_json", is_flag=True, help="Print replay.json on stdout.")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=ENGINES[0],
    show_default=True,
    help="ray: evaluate the policies at once, one per Ray task (same results as local).",
)
@click.option("--address", default=None, help="Ray cluster address for --engine ray (default: a local Ray).")
@quiet_option
def replay(
    log: str,
    fmt: str,
    policies: tuple[str, ...],
    estimators: tuple[str, ...],
    bootstrap: int,
    confidence: float,
    seed: int,
    learn_on: str,
    action_col: str,
    reward_col: str,
    propensity_col: str,
    context_cols: str,
    candidates_col: str | None,
    timestamp_col: str | None,
    position_col: str | None,
    action_features: str | None,
    action_key: str,
    chunk_size: int,
    max_bad_lines: int,
    out: str,
    force: bool,
    as_json: bool,
    engine: str,
    address: str | None,
    quiet: bool,
) -> None:
    """Estimate what each --policy would have earned on the decisions logged in LOG.

    Policies are replayed through the log in time order (predict, then learn from the logged
    event). Every estimate comes with its interval and diagnostics: events used, effective sample
    size, max/mean importance weight and the share without logging support.
    """
    from simulations.ope.readers import ColumnMapping, open_log
    from simulations.ope.replay import passes_needed, run_replay

    mapping = ColumnMapping(
        action_col=action_col,
        reward_col=reward_col,
        propensity_col=propensity_col,
        context_cols=[c.strip() for c in context_cols.split(",") if c.strip()],
        candidates_col=candidates_col,
        timestamp_col=timestamp_col,
        position_col=position_col,
        action_features=action_features,
        action_key=action_key,
    )
    source = open_log(log, fmt, mapping, chunk_size=chunk_size, max_bad_lines=max_bad_lines)
    preload = _preload_report()
    quiet = quiet or as_json
    estimators = tuple(estimators) or DEFAULT_ESTIMATORS
    policies = tuple(policies) or DEFAULT_POLICIES
    passes = passes_needed(policies, estimators)
    try:
        if engine == "ray":
            result = _replay_on_ray(
                log,
                fmt,
                mapping,
                policies,
                estimators,
                out,
                address,
                force,
                quiet,
                bootstrap=bootstrap,
                confidence=confidence,
                seed=seed,
                learn_on=learn_on,
                chunk_size=chunk_size,
                max_bad_lines=max_bad_lines,
            )
        else:
            label = "replay" if passes == 1 else f"replay ({passes} passes)"
            with progress(length=max(1, source.approx_events()), label=label, quiet=quiet) as bar:
                result = run_replay(
                    source,
                    list(policies),
                    list(estimators),
                    out,
                    force=force,
                    bootstrap=bootstrap,
                    confidence=confidence,
                    seed=seed,
                    learn_on=learn_on,
                    on_events=events_counter(bar.update, passes),
                )
    finally:  # never leave the thread inside matplotlib's C++ at interpreter exit (an error path)
        preload.join()
    if as_json:
        from safeio.jsonl import json_safe

        click.echo(json.dumps(json_safe(result), indent=2))
        return
    click.echo(format_table(result))
    for p in result["policies"]:
        for name, e in p["estimates"].items():
            for w in e["warnings"]:
                say(f"warning: {p['name']} / {name}: {w}", quiet)
    for note in result["log"]["notes"]:
        say(f"note: {note}", quiet)
    bad = result["log"]["bad_lines"]
    if bad["count"]:
        say(
            f"warning: skipped {bad['count']} bad line{'s' if bad['count'] != 1 else ''} "
            f"(--max-bad-lines {bad['limit']}); first: {bad['examples'][0]}",
            quiet,
        )
    say(f"{plural(result['log']['events'], 'event')} -> {out}/replay.json, {out}/report.html", quiet)


def _preload_report() -> threading.Thread:
    """Import the report's charting (matplotlib, ~0.5 s) and warm it up (the first figure's ~0.5-1 s of
    font and layout setup) on a thread while the log is read: the reader spends its time in
    pyarrow/numpy with the GIL released, so this is off the critical path. A failure is ignored
    here; the main thread's own import or drawing raises it when the report is written."""
    import threading

    def load() -> None:
        try:
            from simulations.ope import report

            report.warm_up()
        except Exception:  # noqa: BLE001 - reported by the main thread when it writes the report
            pass

    thread = threading.Thread(target=load, name="artbandit-report-warm-up", daemon=True)
    thread.start()
    return thread


def _replay_on_ray(
    log: str,
    fmt: str,
    mapping,
    policies: tuple[str, ...],
    estimators: tuple[str, ...],
    out: str,
    address: str | None,
    force: bool,
    quiet: bool,
    **options,
) -> dict:
    """One policy per Ray task (artbandit.jobs.replay_job); writes what run_replay writes."""
    from artbandit.jobs.replay_job import replay_policies
    from safeio.engine import make_engine
    from safeio.engine.base import EngineError
    from simulations.ope.replay import replay_output

    with replay_output(
        log, policies, estimators, out, force=force, options={"mapping": mapping, "seed": options.get("seed", 0)}
    ) as write:
        try:
            engine = make_engine("ray", workers=len(policies), address=address)
        except EngineError as exc:
            raise click.ClickException(str(exc))
        with engine:
            with progress(length=len(policies), label="policies", quiet=quiet) as bar:
                result = replay_policies(
                    engine,
                    log,
                    policies,
                    estimators,
                    fmt=fmt,
                    mapping=mapping,
                    on_policy=lambda _n: bar.update(1),
                    **options,
                )
        write(result)
    return result


def events_counter(update: Callable[[int], None], passes: int) -> Callable[[int], None]:
    """on_events for a bar that counts the log's events: each of `passes` passes over the log moves it
    1/passes of the way, so 10,000 events read twice read 10,000 at the end, not 20,000."""
    done = [0]

    def on_events(n: int) -> None:
        before = done[0] // passes
        done[0] += n
        update(done[0] // passes - before)

    return on_events


def format_table(result: dict) -> str:
    """Estimates and their diagnostics as an aligned text table ('-' where there is no number, never nan)."""
    from artbandit.text import number

    conf = result["settings"]["confidence"]
    head = ["policy", "estimator", "value", f"{conf:.0%} interval", "used", "ESS", "max w", "mean w", "zero supp"]
    rows = [head]
    for p in result["policies"]:
        for name, e in p["estimates"].items():
            d = e["diagnostics"]
            zs = d["zero_support_share"]
            rows.append(
                [
                    p["name"],
                    name,
                    number(e["value"]),
                    f"[{number(e['low'])}, {number(e['high'])}]",
                    str(d["events_used"]),
                    number(d["ess"], "{:.0f}"),
                    number(d["max_weight"], "{:.2f}"),
                    number(d["mean_weight"], "{:.3f}"),
                    "-" if zs is None else f"{zs:.1%}",
                ]
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows
    )
