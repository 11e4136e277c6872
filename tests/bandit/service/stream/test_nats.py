"""The NATS JetStream event stream (bandit/service/stream/nats.py) against the real server."""

from __future__ import annotations

import time

import orjson
import pytest


def test_a_batch_whose_acknowledgement_is_lost_is_acknowledged_by_its_retry_and_stored_once(nats_server, monkeypatch):
    """JetStream stored the batch but its answer never came back (connection dropped, timeout): the
    retry with the same Nats-Msg-Id is answered as a duplicate with the stored sequence, so the ranker
    acknowledges what is stored (it used to answer 503), and the stream holds the batch once."""
    import nats.errors

    from bandit.service.stream.nats import NatsStream

    stream = NatsStream(nats_server.url)
    try:
        first = stream.append([orjson.dumps({"k": "tick", "t": 1.0})])
        real_publish = stream._js.publish
        calls = []

        async def ack_lost(*args, **kwargs):
            calls.append(dict(kwargs.get("headers") or {}))
            ack = await real_publish(*args, **kwargs)
            if len(calls) == 1:
                raise nats.errors.TimeoutError  # stored, but the ranker never hears so
            return ack

        monkeypatch.setattr(stream._js, "publish", ack_lost)
        seq = stream.append([orjson.dumps({"k": "reward", "id": "e1", "t": 2.0, "b": {"v": 1.0}})])
        assert len(calls) == 2 and calls[0]["Nats-Msg-Id"] == calls[1]["Nats-Msg-Id"]  # the same id again
        assert seq == first + 1 == stream.last_seq()  # the stored batch's sequence: nothing appended twice
        assert [orjson.loads(m)["k"] for _, m in stream.read(0)] == ["tick", "reward"]
        monkeypatch.setattr(stream._js, "publish", real_publish)
        assert stream.append([orjson.dumps({"k": "tick", "t": 3.0})]) == seq + 1  # a new batch: a new id
    finally:
        stream.close()


def test_a_stream_server_that_stays_down_is_an_error_after_a_few_quick_retries(nats_server, monkeypatch):
    """While the server is down a publish fails at once (nothing buffered): the batch is tried again
    after each of PUBLISH_RETRIES_S, then the error reaches the ranker (503), and nothing of it is
    stored when the server comes back."""
    import bandit.service.stream.nats as nats_stream

    stream = nats_stream.NatsStream(nats_server.url)
    try:
        before = stream.append([orjson.dumps({"k": "tick", "t": 1.0})])
        waits: list[float] = []
        monkeypatch.setattr(nats_stream, "_pause", waits.append)
        nats_server.stop()
        with pytest.raises(Exception):  # noqa: B017 - whichever error the client raises: the ranker's 503
            stream.append([orjson.dumps({"k": "tick", "t": 2.0})])
        assert waits == list(nats_stream.PUBLISH_RETRIES_S)
        monkeypatch.undo()
        nats_server.start()
        for _ in range(100):  # the client reconnects in the background
            try:
                last = stream.last_seq()
                break
            except Exception:  # noqa: BLE001 - not reconnected yet
                time.sleep(0.1)
        assert last == before  # the refused batch was never stored
    finally:
        stream.close()
