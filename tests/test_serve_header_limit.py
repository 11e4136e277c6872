"""The header size limit (artbandit.serve.protocol) counts header bytes only: a request whose
headers and large body arrive in one read is not refused as 'headers too large'."""
from __future__ import annotations

import json
import socket

from tests.serve_helpers import KEY, Server


def test_headers_and_a_large_body_in_one_read_are_not_headers_too_large(tmp_path):
    body = json.dumps({"contextFeatures": [{"user": {"blob": "x" * 200_000}}],
                       "actions": [{"id": "a", "features": [{"f": 1}]}]}).encode()
    head = (f"POST /personalizer/v1.0/rank HTTP/1.1\r\nHost: x\r\nOcp-Apim-Subscription-Key: {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with Server(tmp_path / "state") as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.sendall(head + body)  # one write: the server's first read holds headers and body
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
