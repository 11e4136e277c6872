"""The `artbandit` command: a thin click layer over the imaging, bandit and simulations libraries.

Subcommands are imported lazily so that `artbandit --help` does not pay for OpenCV, PyAV or VW.
Every library error becomes a one-line message and a non-zero exit, never a traceback
(set ARTBANDIT_DEBUG=1 to see the traceback of an unexpected error).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from safeio.errors import one_line

# name -> "module:attribute" of a click command; each lives in its own module under artbandit/cli/.
COMMANDS: dict[str, str] = {
    "extract": "artbandit.cli.extract:extract",
    "variants": "artbandit.cli.variants:variants",
    "log": "artbandit.cli.bandit:log",
    "train": "artbandit.cli.bandit:train",
    "rank": "artbandit.cli.bandit:rank",
    "simulate": "artbandit.cli.simulate:simulate",
    "replay": "artbandit.cli.replay:replay",
    "evaluate": "artbandit.cli.evaluate:evaluate",
    "demo": "artbandit.cli.demo:demo",
    "catalog": "artbandit.cli.catalog:catalog",
    "serve": "artbandit.cli.serve:serve",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a command not built yet, or a broken install
            if exc.name and exc.name.startswith("artbandit.cli"):
                return None
            raise
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="artbandit")
def cli() -> None:
    """artbandit: thumbnails from video, artwork variants, and a bandit that learns
    which artwork each viewer responds to."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning user errors into one line on stderr."""
    from artbandit.cli.common import user_error_types

    try:
        # without standalone mode click *returns* the code of ctx.exit(n) instead of exiting
        code = cli.main(args=argv, prog_name="artbandit", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except user_error_types() as exc:
        click.echo(f"Error: {one_line(exc)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last line of defence: no tracebacks for users
        if os.environ.get("ARTBANDIT_DEBUG"):
            raise
        click.echo(
            f"Error: internal error ({type(exc).__name__}: {one_line(exc)}); rerun with ARTBANDIT_DEBUG=1 for details",
            err=True,
        )
        sys.exit(2)
