"""bandit.service.stream.embedded: what the rankers' appends wait for, and who moves the WAL."""

from __future__ import annotations

import threading

import orjson

from bandit.service.stream import embedded
from bandit.service.stream.embedded import EmbeddedStream


def _wal_bytes(stream: EmbeddedStream) -> int:
    return (stream.path / "stream.sqlite-wal").stat().st_size


def test_a_writer_waits_for_another_on_the_lock_not_on_sqlites_busy_handler(tmp_path, monkeypatch):
    """With SQLite's busy timeout at 0 a writer that met another's open transaction would fail at once
    ("database is locked"); it queues on the writers' flock instead and appends after it, in order."""
    monkeypatch.setattr(embedded, "BUSY_MS", 0)
    first, second = EmbeddedStream(tmp_path), EmbeddedStream(tmp_path)
    done: dict = {}

    def append() -> None:
        try:
            done["seq"] = second.append([b'{"k":"tick","t":2}'])
        except Exception as exc:  # noqa: BLE001 - the test reports it
            done["error"] = exc

    with first._writing():
        first._db.execute("BEGIN IMMEDIATE")
        first._db.execute("INSERT INTO messages(time, body) VALUES (1, ?)", (b'{"k":"tick","t":1}',))
        waiter = threading.Thread(target=append)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and not done, done  # waiting, not failed
        first._db.execute("COMMIT")
    waiter.join(10)
    assert done == {"seq": 2}
    assert [orjson.loads(b)["t"] for _, b in first.read(0)] == [1, 2]
    first.close()
    second.close()


def test_appends_never_checkpoint_the_wal_the_reader_does(tmp_path, monkeypatch):
    """An append that checkpointed (SQLite's default every 1000 pages) would copy and sync ~4 MB while
    its requests wait: appends only add to the WAL; `read` moves it into the database (at most every
    CHECKPOINT_S), after which the WAL is reused from its start instead of growing."""
    writer, reader = EmbeddedStream(tmp_path), EmbeddedStream(tmp_path)
    big = [b"x" * 100_000]
    for _ in range(60):  # 6 MB: past SQLite's automatic checkpoint (1000 pages of 4 KB)
        writer.append(big)
    grown = _wal_bytes(writer)
    assert grown > 6_000_000 and reader.checkpoints == 0
    monkeypatch.setattr(embedded, "CHECKPOINT_S", 0.0)
    assert len(reader.read(0, limit=100)) == 60
    assert reader.checkpoints == 1
    for _ in range(30):  # 3 MB more: written over the checkpointed WAL, not after it
        writer.append(big)
    assert _wal_bytes(writer) == grown
    assert [seq for seq, _ in reader.read(0, limit=100)] == list(range(1, 91))
    writer.close()
    reader.close()
