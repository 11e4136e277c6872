"""How fresh the candidates are: the share of the actions offered that were never offered before.

Why: `vw:select`'s exact ridge member (bandit.policies.ridge) is what wins where every decision
brings new actions known only by their features (coba's benchmark: 1.9 points behind coba's LinUCB
without it, 0.5 with it gated by this module), and what loses on catalogues of fixed variants, where VW's per-action
weights do the work and the ridge member's few context slots and its memory of everything cost the
simulator's `drift` scenario 0.19 of the oracle (issue 31, docs/defaults.md). Whether the actions
are fresh is a fact of the traffic, measured here, so the default can take the member where it
helps and leave it out where it hurts.

An action is its id and its features (the same id with other features is another action, as the
action registry sees it). Each one is hashed once into a bit table of TABLE_BITS bits (32 KB, saved
with the model, so a loaded policy counts exactly as the original would); a table a quarter full
is cleared (after ~65,000 distinct actions: until then at most a quarter of the new actions pass
for known ones, so a stream of new actions never reads below 0.75 fresh; a catalogue of fixed
variants never gets there). The share is an
average over the last ~WINDOW candidate sets (exactly the running mean over the first WINDOW).
"""

from __future__ import annotations

import hashlib
from typing import Any, Mapping, Sequence

import numpy as np

from bandit.features import ActionEntry

TABLE_BITS = 1 << 18
WINDOW = 256  # candidate sets the share averages over (and the ridge member's trial: see personalizer)
_MARK = "fresh_counted"  # an ActionEntry.extra key: this entry was counted once already


class FreshActions:
    """Counts, per candidate set, the share of actions never offered before."""

    def __init__(self) -> None:
        self.table = np.zeros(TABLE_BITS // 8, dtype=np.uint8)
        self.ones = 0  # bits set
        self.sets = 0  # candidate sets counted
        self.share = 0.0  # the recent share of fresh actions per candidate set
        self._last: list[ActionEntry] | None = None

    def observe(self, entries: Sequence[ActionEntry]) -> float:
        """Count one candidate set; returns its share of actions never offered before. Each
        registry entry is hashed once (later sets find the mark it leaves), and the same list as
        the last set's (the registry hands it back when nothing changed) costs one comparison."""
        x = 0.0
        if entries is not self._last:
            fresh = 0
            for entry in entries:
                extra = entry.extra
                if _MARK in extra:
                    continue
                extra[_MARK] = True
                fresh += self._first_sight(entry.json_text)
            self._last = entries if isinstance(entries, list) else None
            if fresh:
                x = fresh / len(entries)
        sets = self.sets = self.sets + 1
        self.share += (x - self.share) / (sets if sets < WINDOW else WINDOW)
        return x

    def _first_sight(self, text: str) -> int:
        """1 if the action `text` (id and features) was never seen, and marks it seen; else 0."""
        h = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
        bit = h % TABLE_BITS  # (zlib.crc32 is cheaper but clusters near-identical ids: 0.74 fresh read for all-new)
        byte, mask = bit >> 3, 1 << (bit & 7)
        if self.table[byte] & mask:
            return 0
        if self.ones >= TABLE_BITS // 4:  # a quarter full: start over rather than call more known
            self.table[:] = 0
            self.ones = 0
        self.table[byte] |= mask
        self.ones += 1
        return 1

    # -- state ------------------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, Any], np.ndarray]:
        return {"sets": self.sets, "share": self.share}, self.table

    @classmethod
    def from_state(cls, meta: Mapping[str, Any], table: np.ndarray) -> "FreshActions":
        out = cls()
        table = np.asarray(table, dtype=np.uint8)
        if table.shape != out.table.shape:
            raise ValueError("a fresh-action table of the wrong size")
        out.table = table.copy()
        out.ones = int(np.unpackbits(out.table).sum())
        out.sets = int(meta["sets"])
        out.share = float(meta["share"])
        if out.sets < 0 or not 0.0 <= out.share <= 1.0:
            raise ValueError("a fresh-action share outside [0, 1]")
        return out
