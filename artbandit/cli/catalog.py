"""`artbandit catalog build|status`: a whole catalogue of titles, on a local pool or on Ray."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from artbandit.cli.common import quiet_option, say, tell
from artbandit.text import plural
from imaging.choices import DEFAULT_ASPECTS, IMAGE_FORMATS, MODES

# The libraries' own names, from light modules: `artbandit catalog --help` loads no OpenCV or PyAV.
from safeio.engine import ENGINES
from safeio.errors import one_line

_OPTION_KEYS = ("k", "mode", "fmt", "aspects", "width", "treatments", "overlay_title")
MAX_FAILURE_LINES = 20  # per-title failure lines printed; the rest are in failures.jsonl


def load_config(path: Path | None) -> dict[str, Any]:
    """Options from a TOML or JSON file (keys: k, mode, format, aspects, width, treatments, overlay_title)."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.ClickException(f"{path}: not a readable TOML/JSON config ({one_line(exc)})")
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: the config must be a table of options")
    data = dict(data)
    if "format" in data:
        data["fmt"] = data.pop("format")
    unknown = sorted(set(data) - set(_OPTION_KEYS))
    if unknown:
        raise click.ClickException(
            f"{path}: unknown option {unknown[0]!r} (known: k, mode, format, aspects, width, treatments, overlay_title)"
        )
    for name in ("aspects", "treatments"):
        if name in data and isinstance(data[name], str):
            data[name] = [data[name]]
    return data


def make_options(config: dict[str, Any], given: dict[str, Any]):
    """CatalogOptions from the config, overridden by options given on the command line; checked."""
    from artbandit.jobs.catalog_title import CatalogOptions
    from imaging.artwork.crop import parse_aspect
    from imaging.artwork.treatments import check_treatment
    from imaging.errors import ImagingError

    merged = {**config, **{k: v for k, v in given.items() if v not in (None, ())}}
    try:
        for name in ("aspects", "treatments"):
            if name in merged:
                merged[name] = tuple(str(x) for x in merged[name])
        opts = CatalogOptions(**merged)
        if not isinstance(opts.k, int) or not 1 <= opts.k <= 200:
            raise ImagingError(f"k must be an integer from 1 to 200, not {opts.k!r}")
        if opts.mode not in MODES or opts.fmt not in IMAGE_FORMATS:
            raise ImagingError(f"mode must be one of {', '.join(MODES)} and format one of {', '.join(IMAGE_FORMATS)}")
        if not isinstance(opts.width, int) or opts.width < 16:
            raise ImagingError(f"width must be an integer >= 16, not {opts.width!r}")
        if not opts.aspects or not opts.treatments:
            raise ImagingError("give at least one aspect and one treatment")
        for a in opts.aspects:
            parse_aspect(a)
        for t in opts.treatments:
            check_treatment(t)
    except (ImagingError, TypeError) as exc:
        raise click.ClickException(one_line(exc))
    return opts


class TitleBar:
    """The build's progress bar: titles done/failed, titles/min and ETA (click's, on stderr).

    Fed through the safeio.progress protocol (`bar(done, total, unit)`) plus `on_title` for failures.
    """

    def __init__(self, quiet: bool) -> None:
        self.hidden = quiet or not sys.stderr.isatty()
        self.failed = 0
        self.unit = "titles"
        self.started = time.monotonic()
        self._bar: Any = None  # click's progress bar while one is drawn
        self._pos = 0

    def __call__(self, done: int, total: int | None, unit: str) -> None:
        if self.hidden:
            return
        if self._bar is None:
            self.unit = unit
            self._bar = click.progressbar(
                length=max(1, total or 1),
                label=unit,
                file=sys.stderr,
                show_pos=True,
                show_eta=True,
                item_show_func=self._info,
            )
            self._bar.__enter__()
        self._bar.update(done - self._pos, done)
        self._pos = done

    def _info(self, done: int | None) -> str:
        minutes = (time.monotonic() - self.started) / 60
        rate = (done or 0) / minutes if minutes > 0 else 0.0
        return f"{self.failed} failed, {rate:.1f} {self.unit}/min"

    def on_title(self, title_id: str, doc: dict) -> None:
        if "failed" in doc:
            self.failed += 1

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@click.group()
def catalog() -> None:
    """Build a whole catalogue of titles (thumbnails, variants, features, one index) and watch it."""


@catalog.command()
@click.argument("source", type=str)
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Catalogue folder (created; an existing one is continued).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=ENGINES[0],
    show_default=True,
    help="local: a process pool on this machine; ray: Ray (local, or --address of a cluster).",
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(1, 512),
    default=None,
    help="Titles in parallel (local processes or Ray CPUs). Default: the CPU count.",
)
@click.option("--address", default=None, help="Ray cluster address (e.g. ray://head:10001); implies --engine ray.")
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="TOML/JSON file of options (k, mode, format, aspects, width, treatments, overlay_title).",
)
@click.option("-k", "k", type=int, default=None, help="Candidates per title [default: 8].")
@click.option("--mode", type=click.Choice(MODES), default=None, help="Extraction mode [default: default].")
@click.option("--format", "fmt", type=click.Choice(IMAGE_FORMATS), default=None, help="Candidate image format [jpg].")
@click.option(
    "--aspect", "aspects", multiple=True, help=f"Variant aspect W:H (repeatable) [{' '.join(DEFAULT_ASPECTS)}]."
)
@click.option("--width", type=int, default=None, help="Variant width in px [default: 640].")
@click.option("--treatment", "treatments", multiple=True, help="Colour treatment (repeatable) [none].")
@click.option(
    "--overlay-title/--no-overlay-title",
    "overlay_title",
    default=None,
    help="Draw the table's `title` column on the variants [default: on].",
)
@click.option("--force", is_flag=True, help="Rebuild titles that are already complete and up to date.")
@click.option("--verbose", is_flag=True, help="Show Ray's own logs.")
@click.option("--json", "as_json", is_flag=True, help="Print run.json on stdout.")
@quiet_option
def build(
    source: str,
    out: Path,
    engine: str,
    workers: int | None,
    address: str | None,
    config: Path | None,
    k: int | None,
    mode: str | None,
    fmt: str | None,
    aspects: tuple[str, ...],
    width: int | None,
    treatments: tuple[str, ...],
    overlay_title: bool | None,
    force: bool,
    verbose: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Build the catalogue of SOURCE: a CSV/JSONL/Parquet table with title_id and video columns
    (other columns are carried into the index; `title` is drawn on the variants), a folder of
    videos or a quoted glob (one title per file).

    Per title: candidates (as `artbandit extract`), variants with features (as `artbandit
    variants`), in OUT/titles/<title>/; then OUT/catalog.parquet and catalog.jsonl (one row per
    variant), failures.jsonl and run.json. Re-running continues: complete, unchanged titles are
    skipped.
    """
    from artbandit.jobs.catalog_build import build_catalog
    from artbandit.jobs.catalog_input import CatalogError
    from imaging.errors import ImagingError
    from safeio.engine import make_engine
    from safeio.engine.base import EngineError
    from safeio.errors import OutputFolderError

    options = make_options(
        load_config(config),
        dict(k=k, mode=mode, fmt=fmt, aspects=aspects, width=width, treatments=treatments, overlay_title=overlay_title),
    )
    engine = "ray" if address else engine
    bar = TitleBar(quiet or as_json)
    try:
        t0 = time.perf_counter()
        with make_engine(engine, workers=workers, address=address, verbose=verbose) as runner:
            if engine == "ray":
                say(f"Ray ready in {time.perf_counter() - t0:.1f} s ({runner.workers} CPUs)", quiet or as_json)
            try:
                result = build_catalog(source, out, runner, options, force=force, progress=bar, on_title=bar.on_title)
            finally:
                bar.close()
    except (CatalogError, OutputFolderError, ImagingError, EngineError) as exc:
        raise click.ClickException(one_line(exc))
    if as_json:
        click.echo((out / "run.json").read_text(encoding="utf-8"), nl=False)
    else:
        say(
            f"{plural(result.titles, 'title')}: {result.built} built, {result.skipped} skipped (up to date), "
            f"{result.failed_titles} failed; {plural(result.variants, 'variant')} -> {out}/catalog.parquet",
            quiet,
        )
    # every failure's reason, even with --quiet (it hides the bar and chatter, never why it failed)
    for f in result.failures[:MAX_FAILURE_LINES]:
        tell(f"failed: {f['title_id']} ({f['stage']}): {f['reason']}")
    if len(result.failures) > MAX_FAILURE_LINES:
        tell(f"... and {len(result.failures) - MAX_FAILURE_LINES} more in {out}/failures.jsonl")
    if result.failed_titles:
        tell(f"{result.failed_titles} of {plural(result.titles, 'title')} failed; see {out}/failures.jsonl")
        sys.exit(1)


@catalog.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(folder: Path, as_json: bool) -> None:
    """Done / failed / pending titles of a catalogue FOLDER and the last run's timings."""
    from artbandit.jobs.catalog_input import CatalogError
    from artbandit.jobs.catalog_status import catalog_status, format_status

    try:
        s = catalog_status(folder)
    except CatalogError as exc:
        raise click.ClickException(one_line(exc))
    click.echo(json.dumps(s, indent=2) if as_json else format_status(s))
