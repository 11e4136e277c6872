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


def test_retention_deletes_what_is_old_and_covered_in_chunks_without_scanning_the_table(tmp_path, monkeypatch):
    """`trim` ran one DELETE over every row up to the learner's position while holding the writers'
    lock: with a day of retention (millions of messages) every ranker's append waited for the scan.
    It now bisects on the primary key (counted: SQLite VM steps independent of the table's size) and
    deletes in TRIM_CHUNK transactions; what it deletes is unchanged."""
    stream = EmbeddedStream(tmp_path)
    rows = [(float(i // 200), b"m") for i in range(20_000)]  # message seq s was appended at time (s - 1) // 200
    stream._db.executemany("INSERT INTO messages(time, body) VALUES (?, ?)", rows)
    steps = [0]
    stream._db.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1) or 0, 100)
    assert stream.trim(20_000, older_than=0.0) == 0  # none old enough: nothing read but a few keys
    assert steps[0] < 20  # under 2,000 VM instructions for 20,000 rows (the scan: over 1,000 steps)
    stream._db.set_progress_handler(None, 0)
    monkeypatch.setattr(embedded, "TRIM_CHUNK", 150)
    locks = []
    real = stream._writing
    monkeypatch.setattr(stream, "_writing", lambda: locks.append(1) or real())
    assert stream.trim(900, older_than=3.0) == 600  # times 0, 1, 2 (seq 1-600), not past position 900
    assert len(locks) == 4  # 600 messages in transactions of 150
    assert stream.trim(10_000, older_than=50.0) == 9_400  # 601-10,000: older than 50 and covered
    assert stream.trim(20_000, older_than=50.0) == 0
    assert [seq for seq, _ in stream.read(0, limit=1)] == [10_001]
    assert stream.last_seq() == 20_000
    stream.close()


class _AppendDuringCheckpoint:
    """The reader's connection, with a writer's append landing just after its first checkpoint call
    (as under constant traffic, where appends go on during the copy)."""

    def __init__(self, db, writer: EmbeddedStream) -> None:
        self.db, self.writer, self.done = db, writer, False

    def execute(self, sql: str, *args):
        cursor = self.db.execute(sql, *args)
        if "wal_checkpoint" in sql and not self.done:
            self.done = True
            self.writer.append([b"y" * 100_000])
        return cursor

    def __getattr__(self, name: str):
        return getattr(self.db, name)


def test_under_constant_appends_the_wal_still_starts_over_once_past_its_bound(tmp_path, monkeypatch):
    """SQLite starts a WAL over only when all of it is in the database; a checkpoint that never blocks
    writers never gets there while they append (measured: 1.8 GB of WAL in 6 s), so past
    WAL_RESTART_BYTES the reader copies the rest holding the writers' lock and the WAL starts over."""
    monkeypatch.setattr(embedded, "WAL_RESTART_BYTES", 1_000_000, raising=False)
    monkeypatch.setattr(embedded, "CHECKPOINT_S", 0.0)
    writer, reader = EmbeddedStream(tmp_path), EmbeddedStream(tmp_path)
    for _ in range(30):  # 3 MB of WAL, past the (patched) bound
        writer.append([b"x" * 100_000])
    reader._db = _AppendDuringCheckpoint(reader._db, writer)  # type: ignore[assignment]
    assert len(reader.read(0, limit=100)) == 31
    writer.append([b"z" * 100_000])  # starts the WAL over: the file is cut back to the bound
    assert _wal_bytes(writer) <= 1_000_000
    assert [seq for seq, _ in reader.read(0, limit=100)] == list(range(1, 33))
    writer.close()
    reader._db = reader._db.db
    reader.close()


def test_without_a_reader_a_writer_keeps_the_wal_bounded(tmp_path, monkeypatch):
    """The learner down: nobody reads, so the writer checkpoints itself once the WAL passes
    WAL_NO_READER_BYTES (looked at every WAL_CHECK_EVERY appends), and the WAL starts over."""
    monkeypatch.setattr(embedded, "WAL_RESTART_BYTES", 1_000_000, raising=False)
    monkeypatch.setattr(embedded, "WAL_NO_READER_BYTES", 2_000_000, raising=False)
    monkeypatch.setattr(embedded, "WAL_CHECK_EVERY", 5, raising=False)
    writer = EmbeddedStream(tmp_path)
    sizes = []
    for _ in range(100):  # 10 MB appended
        writer.append([b"x" * 100_000])
        sizes.append(_wal_bytes(writer))
    assert writer.checkpoints >= 3
    assert max(sizes) < 3_000_000  # 2 MB + one check interval (0.5 MB) + SQLite's own pages
    assert [seq for seq, _ in writer.read(0, limit=200)] == list(range(1, 101))
    writer.close()


def test_serve_durable_makes_every_append_survive_power_loss(tmp_path):
    """`serve --durable` promises fsync per group commit; with rankers the group commit is the
    stream append, so the stream must be synchronous=FULL (2), and NORMAL (1) otherwise."""
    from bandit.service.stream import open_stream

    durable = open_stream(None, str(tmp_path / "a"), durable=True)
    plain = open_stream("embedded", str(tmp_path / "b"))
    try:
        assert durable._db.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert plain._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        durable.close()
        plain.close()
