"""The connection guards of artbandit.serve.protocol: slow and idle connections are closed (slowloris:
before, 441 of 500 sockets that trickled their headers were still open after 40 s; request headers
must arrive within --header-timeout; idle keep-alive connections close after 5 s), and the header
size limit counts header bytes only (a request whose headers and large body arrive in one read is
not refused as 'headers too large')."""

from __future__ import annotations

import json
import socket
import time

import httpx

from tests.serve_helpers import KEY, Server


def test_headers_and_a_large_body_in_one_read_are_not_headers_too_large(tmp_path):
    body = json.dumps(
        {"contextFeatures": [{"user": {"blob": "x" * 200_000}}], "actions": [{"id": "a", "features": [{"f": 1}]}]}
    ).encode()
    head = (
        f"POST /personalizer/v1.0/rank HTTP/1.1\r\nHost: x\r\nOcp-Apim-Subscription-Key: {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with Server(tmp_path / "state") as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.sendall(head + body)  # one write: the server's first read holds headers and body
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 201"), answer[:200]


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b"" or data.startswith(b"HTTP/1.1 4")


def test_slow_and_idle_sockets_are_closed_and_normal_clients_still_served(tmp_path):
    srv = Server(tmp_path / "state", "--header-timeout", "1").start()
    socks = []
    try:
        for i in range(30):
            s = socket.create_connection(("127.0.0.1", srv.port))
            if i % 3 == 1:  # started a request, never finishes its headers
                s.sendall(b"POST /personalizer/v1.0/rank HTTP/1.1\r\nHost: x\r\n")
            elif i % 3 == 2:  # one full request, then idle on keep-alive
                s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setblocking(False)
            socks.append(s)
        for _ in range(8):  # trickle: a byte of header every 0.25 s keeps no socket alive
            time.sleep(0.25)
            for s in socks[1::3]:
                try:
                    s.send(b"X")
                except OSError:
                    pass
        assert httpx.get(srv.url + "/status", timeout=5).status_code == 200  # others are served meanwhile
        deadline = time.monotonic() + 12  # keep-alive 5 s; header deadline 1 s
        open_ = list(socks)
        while open_ and time.monotonic() < deadline:
            time.sleep(0.2)
            open_ = [s for s in open_ if not _closed_by_server(s)]
        assert not open_, f"{len(open_)} of {len(socks)} slow or idle sockets still open"
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_oversized_headers_are_refused(tmp_path):
    srv = Server(tmp_path / "state").start()
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 100_000 + b"\r\n\r\n")
        reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
        assert s.recv(4096) == b""  # and the connection is closed
        s.close()
    finally:
        srv.stop()
