"""`artbandit variants`: crops, titles and colour treatments of source images, with features."""

from __future__ import annotations

import json
import sys

import click

from artbandit.cli.common import progress_bar as progress, quiet_option, say
from artbandit.text import grouped_notes, plural

# The library's own names, from a module with no imports: `artbandit --help` loads no OpenCV.
from imaging.choices import DEFAULT_ASPECTS, TREATMENTS
from safeio.errors import one_line


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Output folder (variants.json, one JPEG per variant, variants_sheet.png).",
)
@click.option(
    "--aspect",
    "aspects",
    multiple=True,
    help="W:H crop (repeatable; e.g. 16:9, 2:3, 1.85:1). Default: " + " ".join(DEFAULT_ASPECTS) + ".",
)
@click.option(
    "--width",
    type=int,
    default=640,
    show_default=True,
    help="Output width in px (rounded to a multiple of the ratio's W; never > 1.5x the crop).",
)
@click.option("--title", default=None, help="Title text to render on every variant.")
@click.option(
    "--treatment",
    "treatments",
    multiple=True,
    help=f"Colour treatment (repeatable): {', '.join(TREATMENTS)}. Default: none.",
)
@click.option("--force", is_flag=True, help="Replace the output folder; only ever artbandit's own variants output.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@quiet_option
def variants(
    sources: tuple[str, ...],
    out: str,
    aspects: tuple[str, ...],
    width: int,
    title: str | None,
    treatments: tuple[str, ...],
    force: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Make artwork variants of SOURCE images (files, folders, or `artbandit extract` output folders).

    Every source x aspect x treatment becomes one variant: a smart crop that keeps faces whole,
    optionally titled, with image features for the bandit, listed in OUT/variants.json.
    """
    from imaging.artwork.variants import check_options, collect_sources, make_variants

    aspects = aspects or DEFAULT_ASPECTS
    treatments = treatments or ("none",)
    # Bad options fail fast, as one line, before any source is read.
    check_options(out, aspects=aspects, width=width, title=title, treatments=treatments, force=force, sources=sources)
    n_sources = len(collect_sources(sources)[0])
    with progress(length=max(1, n_sources), label="variants", quiet=quiet or as_json) as bar:
        result = make_variants(
            sources,
            out,
            aspects=aspects,
            width=width,
            title=title,
            treatments=treatments,
            force=force,
            on_source=lambda _src: bar.update(1),
        )
    for note in grouped_notes(result.notes):
        say(f"note: {note}", quiet)
    for failure in result.failures:
        click.echo(f"failed: {one_line(str(failure['error']))}", err=True)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "out": str(result.out_dir),
                    "variants_json": str(result.out_dir / "variants.json"),
                    "sheet": str(result.out_dir / "variants_sheet.png"),
                    "variants": len(result.variants),
                    "failures": result.failures,
                },
                indent=2,
            )
        )
    else:
        say(
            f"{plural(len(result.variants), 'variant')} -> {result.out_dir}/variants.json (sheet: variants_sheet.png)",
            quiet,
        )
    if result.failures:
        say(f"{plural(len(result.failures), 'item')} failed", quiet)
        sys.exit(1)
