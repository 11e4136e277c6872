"""The engines a batch job can run on, in a module with no imports.

Their one home: artbandit.jobs.engine imports them, and the CLI's --engine options offer them
without loading multiprocessing or Ray (`artbandit replay --help` stays fast).
"""
from __future__ import annotations

ENGINES: tuple[str, ...] = ("local", "ray")
