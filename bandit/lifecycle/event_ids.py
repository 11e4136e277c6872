"""Where generated event ids come from: 128 random bits from the OS, or a seeded stream on request.

One home for both the in-process Personalizer (bandit.policies.base) and the DecisionService: ids must be
unique across processes and runs (two processes seeded alike used to generate the same ids, and a
reward then landed on the other process's event), so the default is OS randomness. A seeded stream
(tests, simulations) is deterministic only when a seed is asked for explicitly, and never returns an
id the caller says is already taken (a restarted run replays the same stream).
"""

from __future__ import annotations

import os
import random
from typing import Callable


class EventIds:
    """Generates event ids: `new()` returns 32 hex digits."""

    __slots__ = ("_seeded", "_pool", "_pid", "_taken")

    def __init__(self, seed: int | None = None, taken: Callable[[str], bool] | None = None) -> None:
        """`seed`: deterministic ids (None: OS randomness); `taken(id)`: whether a seeded id was
        already used (an earlier run's log or journal), so the stream skips it."""
        self._seeded: random.Random | None = None if seed is None else random.Random(seed)
        self._pool = bytearray()  # OS randomness fetched 4 KB at a time (one syscall per 256 ids)
        self._pid = 0
        self._taken = taken

    @property
    def seeded(self) -> bool:
        return self._seeded is not None

    def reseed(self, seed: int | None) -> None:
        """Restart the seeded stream (None: back to OS randomness)."""
        self._seeded = None if seed is None else random.Random(seed)

    def new(self) -> str:
        if self._seeded is None:  # 128 random bits from the OS: unique across processes and runs
            pool = self._pool
            if not pool or self._pid != os.getpid():  # refilled after a fork: never share bits
                pool = self._pool = bytearray(os.urandom(16 * 256))
                self._pid = os.getpid()
            event_id = pool[-16:].hex()
            del pool[-16:]
            return event_id
        taken = self._taken
        while True:  # seeded ids (tests, simulations): never one an earlier run already used
            event_id = "%032x" % self._seeded.getrandbits(128)
            if taken is None or not taken(event_id):
                return event_id
