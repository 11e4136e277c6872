"""`artbandit simulate`: run policies on a simulated audience with known tastes."""

from __future__ import annotations

import json
import sys

import click

from artbandit.cli.common import progress_reporter, quiet_option, say
from safeio.errors import one_line
from simulations.choices import REWARDS  # import-free: --help loads no numpy


@click.command()
@click.option(
    "--scenario",
    "-s",
    default="segments",
    show_default=True,
    help="Preset (segments, drift, cold-start, clickbait, delayed) or a .toml/.json file.",
)
@click.option(
    "--policy",
    "-p",
    "policies",
    multiple=True,
    help="Policy spec, repeatable [default: vw:select linucb ts-per-title uniform].",
)
@click.option(
    "--impressions",
    "-n",
    type=click.IntRange(min=1),
    default=200_000,
    show_default=True,
    help="Impressions per policy (every policy sees the same ones).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the catalogue, viewers, stream and policies: same seed, same results.",
)
@click.option(
    "--reward",
    type=click.Choice(REWARDS),
    default=REWARDS[0],
    show_default=True,
    help="What the policies are rewarded with (metrics always report both).",
)
@click.option(
    "--log-policy",
    default="uniform",
    show_default=True,
    help="Policy whose decisions go to OUT/events.sqlite ('none' for no log).",
)
@click.option(
    "--variants",
    "variants",
    multiple=True,
    type=click.Path(),
    help="An `artbandit variants` output folder = one title (repeatable).",
)
@click.option(
    "--catalog",
    "catalog",
    type=click.Path(file_okay=False),
    default=None,
    help="An `artbandit catalog build` folder: its index gives the titles, variants and features.",
)
@click.option(
    "--compare-rewards/--no-compare-rewards",
    default=None,
    help="Also run the first learning policy on the other reward [default: on for clickbait].",
)
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(file_okay=False),
    help="Output folder (metrics.json, report.html, events.sqlite).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier simulate output of other options (never a folder artbandit did not write).",
)
@click.option(
    "--jobs",
    "-j",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes: policies run in parallel, with the same results as one process.",
)
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json to stdout.")
@click.option(
    "--service",
    metavar="URL",
    help="Drive a running `artbandit serve` at URL instead of in-process "
    "policies (key from ARTBANDIT_API_KEY; -o and --policy are then not used).",
)
@quiet_option
def simulate(
    scenario,
    policies,
    impressions,
    seed,
    reward,
    log_policy,
    variants,
    catalog,
    compare_rewards,
    out,
    force,
    jobs,
    as_json,
    service,
    quiet,
):
    """Run each policy on the same simulated viewers through the Rank/Reward API and report
    CTR, quality plays, regret against the oracle, lift over the best fixed artwork and the
    exposure audit."""
    from simulations.online.runner import DEFAULT_POLICIES, run_simulation

    if service:
        import os

        from artbandit.serve.drive import drive_service

        with progress_reporter("simulating", quiet or as_json) as progress:
            m = drive_service(
                service,
                os.environ.get("ARTBANDIT_API_KEY"),
                scenario=scenario,
                impressions=impressions,
                seed=seed,
                reward=reward,
                progress=progress,
            )
        if as_json:
            json.dump(m, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            say(
                f"{service}: CTR {m['ctr']:.4f}  quality plays {m['quality_play_rate']:.4f}  "
                f"share of oracle {m['share_of_oracle']:.1%}",
                quiet,
            )
        return
    if not out:
        raise click.UsageError("Missing option '-o' / '--out'.")
    if catalog:  # the catalogue index's titles, as variants folders that live as long as the command
        from artbandit.jobs.catalog_index import CatalogError, catalog_variant_dirs
        from simulations.world.scenarios import load_scenario

        if variants:
            raise click.UsageError("give --catalog or --variants, not both")
        try:
            genres = tuple(load_scenario(scenario).genres)
            variants = click.get_current_context().with_resource(
                catalog_variant_dirs(catalog, on_note=lambda note: say(f"note: {note}", quiet), genres=genres)
            )
        except CatalogError as exc:
            raise click.ClickException(one_line(exc))
    with progress_reporter("simulating", quiet or as_json) as progress:
        metrics = run_simulation(
            scenario,
            list(policies) or list(DEFAULT_POLICIES),
            impressions=impressions,
            seed=seed,
            reward=reward,
            log_policy=None if log_policy.lower() == "none" else log_policy,
            out_dir=out,
            variants=list(variants) or None,
            compare_rewards=compare_rewards,
            jobs=jobs,
            progress=progress,
            force=force,
        )
    if as_json:
        json.dump(metrics, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        from simulations.online.metrics import MIN_LIFT_BASE

        refs = metrics["references"][reward]["best_fixed"]
        base = refs["expected_ctr" if reward == "click" else "expected_play_rate"]
        for label, m in metrics["policies"].items():
            lift = f"{m['lift_over_best_fixed']:+.1%}" if base >= MIN_LIFT_BASE else f"n/a (base < {MIN_LIFT_BASE:.0%})"
            say(
                f"{label:34s} CTR {m['ctr']:.4f}  quality plays {m['quality_play_rate']:.4f}  "
                f"share of oracle {m['share_of_oracle']:.1%}  lift over best fixed "
                f"{lift}  Gini {m['exposure']['gini']:.2f}",
                quiet,
            )
        say(f"wrote {out}/metrics.json, report.html" + (", events.sqlite" if metrics.get("events") else ""), quiet)
