"""The local HTTP server as a keep-alive client meets it."""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any


def test_responses_leave_without_waiting_for_the_clients_ack(monkeypatch: Any) -> None:
    """Headers and body are two writes: with Nagle's algorithm on, the second waits for
    the client's delayed ACK (about 40 ms a request on a keep-alive connection), so every
    accepted connection has TCP_NODELAY (bench/localhttp.py measures the effect)."""
    from chalice import Chalice

    from devstack.server import LocalServer, RequestHandler

    app = Chalice("nodelay")

    @app.route("/")
    def index() -> dict[str, bool]:
        return {"ok": True}

    seen: list[int] = []
    real = RequestHandler.do_GET

    def spy(self: Any) -> None:
        seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        real(self)

    monkeypatch.setattr(RequestHandler, "do_GET", spy)
    server = LocalServer(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for _ in range(2):  # the same connection twice: keep-alive
            conn.request("GET", "/")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read() == b'{"ok":true}'
        conn.close()
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert len(seen) == 2 and all(seen), seen


def test_a_burst_of_new_connections_waits_in_the_backlog():
    """Sixteen clients connecting at once overflowed socketserver's backlog of 5 and
    the kernel reset some of them (the mixed-load bench saw it): connections made
    before the server accepts any must all be answered."""
    from chalice import Chalice

    from devstack.server import LocalServer

    app = Chalice("burst")

    @app.route("/")
    def index() -> dict[str, bool]:
        return {"ok": True}

    server = LocalServer(app, "127.0.0.1", 0)
    conns: list[socket.socket] = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    try:
        for _ in range(32):  # nothing accepts yet: each waits in the listen queue
            conns.append(socket.create_connection(("127.0.0.1", server.port), timeout=2))
        thread.start()
        for conn in conns:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
    finally:
        for conn in conns:
            conn.close()
        if thread.is_alive():
            server.shutdown()
            thread.join(timeout=5)
        else:  # a connection failed before the server started
            server.httpd.server_close()
