"""artbandit: the application layer over the three libraries.

    imaging/  bandit/  simulations/      libraries (imaging and bandit never import each other)
         \\      |       /
          artbandit/                     this package: the `artbandit` CLI (artbandit.cli), the demo,
                                         the HTTP service (artbandit.serve), batch jobs (artbandit.jobs)

Libraries never import this package. `python -m artbandit` runs the CLI.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_demo"]


def __getattr__(name: str) -> Any:
    if name == "run_demo":
        from artbandit.demo import run_demo

        return run_demo
    raise AttributeError(f"module 'artbandit' has no attribute {name!r}")
