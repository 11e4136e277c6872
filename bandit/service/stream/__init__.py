"""The event stream between rankers and the learner, and the model snapshots that flow back.

Why: one process that ranks, learns and journals on the request path tops out at one core
(docs/serve.md "Past one process"). Split, rankers score on a model snapshot and append what they
decided (rank, reward, activate messages) to an ordered, durable stream; one learner reads the stream
in order, applies it to a DecisionService (the same join, default-reward and learning code as the
single process: bandit.service.stream.learner) and publishes snapshots that the rankers load.

Two implementations of the same small interface (`EventStream`):
- `embedded` (the default, no server): an append-only SQLite log in the state folder, appended to by
  several processes (SQLite's single writer gives every message a sequence number in commit order,
  so a reader tailing `seq > n` never misses one), snapshots as files written temp-then-rename;
- `nats://host:port`: NATS JetStream, a stream for the messages and an object store for snapshots
  (bandit.service.stream.nats; needs the `stream` extra).

Messages are orjson objects {"k": kind, "id": event id, "t": time, "b": body}; `append` returns once
they are durable (the acknowledgement rule), with the sequence number of the last one. Kinds: rank,
reward, mreward, activate, tick (the learner's clock), and change: a configuration, policy, model or
log change sent by a ranker (appended alone, so it has a stream position of its own), applied by the
learner in stream order (bandit.service.stream.learner.apply_change); an uploaded model travels as an
upload (`put_upload`), the message names it.
"""

from __future__ import annotations

from typing import Any, Protocol


class EventStream(Protocol):
    """What rankers and the learner need from the stream and the snapshot store."""

    def append(self, messages: list[bytes]) -> int:
        """Append messages (durable when it returns); the last one's sequence number."""

    def read(self, after: int, limit: int = 1000) -> list[tuple[int, bytes]]:
        """Up to `limit` messages with sequence > `after`, in order."""

    def last_seq(self) -> int:
        """The sequence number of the last message appended (0: none)."""

    def publish_snapshot(self, meta: dict[str, Any], blob: bytes) -> None:
        """Make a model snapshot the current one, atomically (readers see the old or the new)."""

    def snapshot_meta(self) -> dict[str, Any] | None:
        """The current snapshot's metadata (cheap: rankers poll it)."""

    def snapshot_blob(self, meta: dict[str, Any]) -> bytes | None:
        """The model bytes of the snapshot `meta` names (None if it was replaced meanwhile)."""

    def put_upload(self, name: str, blob: bytes) -> None:
        """Store an uploaded model (PUT /model on a ranker) for the learner, durably, under `name`."""

    def get_upload(self, name: str) -> bytes | None:
        """An upload's bytes (None if it is gone)."""

    def drop_upload(self, name: str) -> None:
        """Delete an upload the learner has applied."""

    def put_status(self, name: str, status: dict[str, Any]) -> None:
        """Publish one worker's status (its snapshot version, the learner's position)."""

    def statuses(self) -> dict[str, dict[str, Any]]:
        """Every worker's last published status, by name."""

    def drop_status(self, name: str) -> None:
        """Forget a worker that stopped."""

    def trim(self, up_to: int, older_than: float) -> int:
        """Delete messages up to `up_to` appended before time `older_than` (retention)."""

    def close(self) -> None:
        """Release connections."""


def open_stream(url: str | None, state: str, *, durable: bool = False) -> EventStream:
    """The stream a URL names: None or 'embedded' for the state folder's own, nats://... for JetStream.
    `durable`: the embedded stream fsyncs every append (JetStream's own `sync_interval` decides there)."""
    from bandit.errors import BanditError

    if url in (None, "", "embedded"):
        from bandit.service.stream.embedded import EmbeddedStream

        return EmbeddedStream(state, durable=durable)
    if url.startswith("nats://"):
        from bandit.service.stream.nats import NatsStream

        return NatsStream(url)
    raise BanditError(f"--stream {url!r}: give 'embedded' or nats://HOST:PORT")
