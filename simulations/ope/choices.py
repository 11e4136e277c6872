"""The names replay accepts: log formats, estimators, learning modes and the defaults.

Their one home, in a module with no imports, so the CLI can offer them as choices while
`artbandit replay --help` stays fast (no numpy, pyarrow or VW); readers, estimators and
progressive replay import them from here.
"""

from __future__ import annotations

FORMATS: tuple[str, ...] = ("auto", "sqlite", "dsjson", "csv", "jsonl", "parquet")
ESTIMATORS: tuple[str, ...] = ("replay", "ips", "snips", "dm", "dr")
DEFAULT_ESTIMATORS: tuple[str, ...] = ("snips", "dr")
LEARN_ON: tuple[str, ...] = ("all", "matched")
DEFAULT_POLICIES: tuple[str, ...] = ("logged", "uniform", "best-fixed")
