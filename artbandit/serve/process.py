"""What every serving process (the single process, a ranker, the learner) does once it has started."""

from __future__ import annotations


def freeze_startup_objects() -> None:
    """Move everything allocated so far out of the garbage collector's sight (`gc.freeze`).

    Why: a serving process holds a large, permanent object graph (FastAPI and its routes, pydantic,
    numpy, the VW bindings, the model's caches); every full collection walked all of it, on the event
    loop, and those pauses were most of the slowest ranks: rank p99 at 64 clients with 2 rankers went
    from 54-126 ms to 15-17 ms (bench/serve.py, 2026-12-07, 2-core machine). Objects made later are
    collected as usual; those frozen here live as long as the process anyway."""
    import gc

    gc.collect()
    gc.freeze()
