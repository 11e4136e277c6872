"""`artbandit demo`: video -> thumbnails -> variants -> simulated audience -> offline replay -> index.html."""

from __future__ import annotations

import json
import os
import sys
import time

import click

from artbandit.cli.common import progress_reporter, quiet_option, say


@click.command()
@click.option(
    "-o",
    "--out",
    "out",
    default="demo-out",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Output folder: new, empty, or an earlier demo output (see --force).",
)
@click.option(
    "--video",
    "videos",
    multiple=True,
    type=click.Path(),
    help="Your own video instead of the built-in sample (repeatable: one title each).",
)
@click.option("--title", default=None, help="Title text drawn on the variants [sample: 'The Long Night'].")
@click.option(
    "--impressions",
    "-n",
    type=click.IntRange(min=1000),
    default=40_000,
    show_default=True,
    help="Simulated impressions per policy.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--jobs",
    "-j",
    default=os.cpu_count() or 1,
    show_default="all cores",
    type=click.IntRange(1, 64),
    help="Processes for the simulation (same results with any number).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an earlier demo output of other settings (never a folder artbandit did not write).",
)
@click.option("--json", "as_json", is_flag=True, help="Print demo.json (headline numbers) to stdout.")
@quiet_option
def demo(out, videos, title, impressions, seed, jobs, force, as_json, quiet):
    """Run the whole chain in one command and write OUT/index.html linking every result."""
    from artbandit.demo import DemoSettings, headline_text, run_demo

    started = time.monotonic()
    settings = DemoSettings(videos=videos, title=title, impressions=impressions, seed=seed, jobs=jobs)
    with progress_reporter("demo", quiet) as progress:
        summary = run_demo(out, settings, say=lambda s: say(s, quiet), progress=progress, force=force)
    if as_json:
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for line in headline_text(summary["headline"]):
        click.echo(line)
    click.echo(f"open {click.format_filename(out)}/index.html  ({time.monotonic() - started:.0f} s)")
