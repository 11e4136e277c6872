"""The names the bandit CLI accepts: event-log export formats, DSJSON cost conventions, VW explorations.

Their one home, in a module with no imports: bandit.log.export and bandit.policies.vw import them from
here, and the CLI offers them as choices without loading VW or numpy (`artbandit --help` stays fast;
bandit/__init__ loads its public names lazily for the same reason).
"""

from __future__ import annotations

EXPORT_FORMATS: tuple[str, ...] = ("dsjson", "csv", "jsonl", "parquet")
COSTS: tuple[str, ...] = ("reward", "vw")
EXPLORATIONS: tuple[str, ...] = ("squarecb", "epsilon", "softmax", "bag", "cover")
# what `artbandit train --exploration` builds: a Personalizer with one of EXPLORATIONS, or vw:select
TRAIN_EXPLORATIONS: tuple[str, ...] = EXPLORATIONS + ("select",)
