"""Group commit for the service: requests change state on the event loop, one writer thread commits.

A handler changes the DecisionService (fast, in memory, on the loop), then awaits `durable()`. The
committer first yields once to the loop, so every request already parsed adds its records, then
takes everything buffered as one batch and writes it. Requests arriving during a write join the next
batch. So concurrent requests share one SQLite commit, and a request is answered only once the batch
holding its records is committed.

Where the work runs: without fsync (the default, WAL synchronous=NORMAL) a journal commit is a
short write call, cheaper than handing it to a thread and back, so it runs on the loop; with
--durable every commit waits for the disk, so it runs on the writer thread while the loop keeps
parsing requests. Everything slow that an acknowledgement does not need runs on the writer thread,
in order: the derived event log, SQLite's WAL checkpoints of the journal (which sync the file),
publishing model checkpoints, deleting logs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from bandit.service.decision_service import DecisionService
from bandit.service.journal import JournalWriteError, describe_write_error

log = logging.getLogger("artbandit.serve")


class JournalUnavailable(Exception):
    """A commit failed (disk full, I/O error): the request is answered 503 and may be retried."""


class Committer:
    def __init__(self, svc: DecisionService, *, inline: bool = True) -> None:
        self.svc = svc
        self.inline = inline
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="artbandit-writer")
        self._waiters: list[asyncio.Future] = []
        self._task: asyncio.Task | None = None
        self._timer: asyncio.Task | None = None
        self.batches = 0
        self.last_checkpoint = time.monotonic()

    async def durable(self) -> None:
        """Return once everything changed so far is committed (raises if the write failed)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiters.append(fut)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        await fut

    async def background(self, fn, *args):
        """Run `fn(*args)` on the writer thread (after everything submitted before it)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def write(self, fn, *args):
        """Run a write the answer waits for where the journal's writes run (the loop, or the writer
        thread with --durable or a remote stream); a failure is JournalUnavailable (503)."""
        try:
            return fn(*args) if self.inline else await self.background(fn, *args)
        except JournalWriteError as exc:
            raise JournalUnavailable(str(exc)) from None

    async def _write_journal(self, records: list) -> None:
        if self.inline:
            self.svc.journal.write(records)
        else:
            await self.background(self.svc.journal.write, records)

    async def _run(self) -> None:
        while self._waiters:
            await asyncio.sleep(0)  # let requests already read add their records to this batch
            batch = self.svc.take_batch()
            waiters, self._waiters = self._waiters, []
            try:
                await self._write_journal(batch[0])
            except Exception as exc:  # disk full, I/O error: the requests fail, the server stays up
                message = (
                    str(exc)
                    if isinstance(exc, JournalWriteError)
                    else (f"the journal could not be written ({describe_write_error(exc)}); nothing was lost, retry")
                )
                log.error("a group commit failed, its requests are answered 503: %s", message)
                self.svc.requeue(batch)
                for w in waiters:
                    if not w.done():
                        w.set_exception(JournalUnavailable(message))
                continue
            self.batches += 1
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            loop = asyncio.get_running_loop()
            if batch[1]:
                loop.run_in_executor(self.executor, self.svc.write_joined, batch[1])
            if self.inline and self.batches % 200 == 0:
                loop.run_in_executor(self.executor, self.svc.journal.checkpoint_wal)

    async def checkpoint(self) -> None:
        """Save the model now and publish it once the journal holds every record it learned."""
        await self.publish(self.svc.prepare_checkpoint())

    async def publish(self, token) -> None:
        """Publish a prepared checkpoint once the records it depends on are committed."""
        await self.durable()
        await self.background(self.svc.publish_checkpoint, token)
        self.last_checkpoint = time.monotonic()

    def start_timer(self, tick_s: float = 0.25) -> None:
        self._timer = asyncio.get_running_loop().create_task(self._tick(tick_s))

    async def _tick(self, tick_s: float) -> None:
        svc = self.svc
        while True:
            await asyncio.sleep(tick_s)
            try:
                if svc.expire():
                    await self.durable()
                if svc.checkpoint_due or time.monotonic() - self.last_checkpoint >= svc.config.model_export_s:
                    await self.checkpoint()
                    days = svc.config.log_retention_days
                    if days > 0:
                        cutoff = time.time() - days * 86400.0
                        await self.background(svc.journal.delete_closed, svc.checkpoint_seq, cutoff)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep serving; the next tick tries again
                log.error("background expiry/checkpoint failed: %s", exc)

    async def stop(self) -> None:
        """Drain: commit what is buffered, checkpoint, stop the writer."""
        if self._timer is not None:
            self._timer.cancel()
        self.svc.expire()
        await self.checkpoint()
        self.executor.shutdown(wait=True)
