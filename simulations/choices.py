"""The names `artbandit simulate` accepts (rewards), in a module with no imports.

Their one home: simulations.online.metrics and the runner import them from here, and the CLI offers them
as choices without loading numpy (`artbandit simulate --help` stays fast).
"""

from __future__ import annotations

REWARDS: tuple[str, ...] = ("click", "quality_play")
