"""The webhook HTTP transport (h11 on asyncio) against raw loopback receivers that
misbehave: silent TLS peers, peers that stop reading, stray bytes after an answer,
addresses that refuse, a resolver that hangs."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.component.helpers import set_env
from tests.component.test_delivery import _self_signed
from tests.webhook_receiver import Receiver

GUARD = 10.0  # seconds: a test's attempt that runs longer is the bug (asyncio's 30 s)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1,localhost")


class RawServer:
    """A loopback TCP (or TLS) server running `serve(sock, server)` per connection on
    its own thread; `done` is set when the test ends (a silent peer waits on it)."""

    def __init__(self, serve: Callable[[Any, RawServer], None],
                 tls: ssl.SSLContext | None = None) -> None:
        self.serve, self.tls = serve, tls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        self.done = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._run, args=(sock,), daemon=True).start()

    def _run(self, sock: Any) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            self.serve(sock, self)
        except OSError:
            pass
        finally:
            sock.close()

    def close(self) -> None:
        self.done.set()
        self.listener.close()


@pytest.fixture
def servers() -> Iterator[list[RawServer]]:
    made: list[RawServer] = []
    yield made
    for server in made:
        server.close()


def read_request(sock: Any, buffered: bytearray) -> bytes | None:
    """One request's head and body off the socket (None at EOF); what follows it stays
    in `buffered`."""
    while b"\r\n\r\n" not in buffered:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffered += chunk
    head, _, rest = bytes(buffered).partition(b"\r\n\r\n")
    size = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < size:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    buffered[:] = rest[size:]
    return head


def run(reqs: list[Any], after: Callable[[Any], Any] | None = None) -> None:
    """Sends the requests in order on one Clients, then closes it; all of it bounded by
    GUARD, so that a hang fails the test instead of stalling it."""
    from chalicelib.webhooks.delivery import transport

    async def go() -> None:
        clients = transport.Clients()
        try:
            for req in reqs:
                await transport.send(req, clients)
            if after is not None:
                await after(clients)
        finally:
            await clients.close()

    async def bounded() -> None:
        await asyncio.wait_for(go(), GUARD)

    asyncio.run(bounded())


def tls_server(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
               serve: Callable[[Any, RawServer], None]) -> RawServer:
    """A TLS server for localhost whose self-signed certificate the transport trusts."""
    from chalicelib.webhooks.delivery import transport

    cert, key = _self_signed(tmp_path, "localhost")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setattr(transport, "tls_context",
                        lambda: ssl.create_default_context(cafile=cert))
    return RawServer(serve, server_tls)


# -- 1. a connection not kept is aborted, never closed gracefully ----------------------

def test_a_silent_tls_receiver_costs_no_more_than_the_timeout(env, tmp_path, monkeypatch,
                                                              servers):
    """TLS: the receiver takes the request and goes silent (no answer, no close_notify).
    The attempt ends at its timeout; a graceful close would wait asyncio's 30 s for the
    peer's close_notify."""
    from chalicelib.webhooks.delivery import transport

    def silent(sock: Any, server: RawServer) -> None:
        read_request(sock, bytearray())
        server.done.wait()

    server = tls_server(tmp_path, monkeypatch, silent)
    servers.append(server)
    req = transport.Request(f"https://localhost:{server.port}/hooks", {}, "{}", 1.5)
    run([req])
    assert req.outcome.timed_out and req.outcome.status is None, req.outcome
    assert req.outcome.duration_ms < 1500 + 1500, req.outcome


def test_idle_tls_connections_close_without_waiting_for_the_peer(env, tmp_path,
                                                                 monkeypatch, servers):
    """A batch's end closes its idle keep-alive TLS connections at once, even when the
    receivers never answer a close_notify (graceful: 30 s each, one after another)."""
    from chalicelib.webhooks.delivery import transport

    def answer_then_silent(sock: Any, server: RawServer) -> None:
        read_request(sock, bytearray())
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        server.done.wait()

    server = tls_server(tmp_path, monkeypatch, answer_then_silent)
    servers.append(server)
    url = f"https://localhost:{server.port}/hooks"
    reqs = [transport.Request(url, {}, "{}", 5) for _ in range(3)]

    async def concurrently(clients: Any) -> None:
        # Three at once: three connections, each kept idle when its answer is read.
        await asyncio.gather(*(transport.send(r, clients) for r in reqs))

    run([], after=concurrently)  # fails on GUARD if closing waits for the peers
    assert [r.outcome.status for r in reqs] == [200, 200, 200], [r.outcome for r in reqs]
    assert server.connections == 3


def test_a_receiver_that_stops_reading_a_large_body_costs_the_timeout(env, servers):
    """Plain HTTP: the receiver never reads, so the body fills the socket buffers. The
    attempt ends at its timeout (a graceful close would wait for the buffer to drain,
    forever)."""
    from chalicelib.webhooks.delivery import transport

    server = RawServer(lambda sock, srv: srv.done.wait())
    servers.append(server)
    req = transport.Request(f"http://127.0.0.1:{server.port}/hooks", {}, "x" * (32 << 20),
                            1.5)
    run([req])
    assert req.outcome.timed_out, req.outcome
    assert req.outcome.duration_ms < 1500 + 1500, req.outcome


# -- 2. the request target is percent-encoded ------------------------------------------

def test_non_ascii_path_and_query_are_percent_encoded(env):
    from chalicelib.webhooks.delivery import transport

    with Receiver() as receiver:
        req = transport.Request(f"http://127.0.0.1:{receiver.port}/hooks/café?x=ü", {},
                                "{}", 5)
        run([req])
        assert req.outcome.status == 200, req.outcome
        assert [r.path for r in receiver.requests] == ["/hooks/caf%C3%A9?x=%C3%BC"]
    # As httpx (the WHATWG sets): escapes already there are kept; a path also encodes
    # ` { }, which a query keeps; neither touches the ASCII that is safe.
    target = transport.resolve("http://127.0.0.1/a%20b/{`<\"é\">}/;=@:!$&'()*+,~%?"
                               "q=%41{`<\"é\">}&r=/?:@!$'()*+,;=~%#frag")
    assert target.path == ("/a%20b/%7B%60%3C%22%C3%A9%22%3E%7D/;=@:!$&'()*+,~%?"
                           "q=%41{`%3C%22%C3%A9%22%3E}&r=/?:@!$'()*+,;=~%")
    assert transport.resolve("http://127.0.0.1").path == "/"


# -- 3. a connection with unread bytes is not reused -----------------------------------

def test_bytes_after_an_answer_make_the_connection_unusable(env, servers):
    """The receiver sends a stray answer after its first one. The next attempt must not
    read that as its own answer: it gets a new connection."""
    from chalicelib.webhooks.delivery import transport

    answered = []

    def stray(sock: Any, server: RawServer) -> None:
        buffered = bytearray()
        while read_request(sock, buffered) is not None:
            answered.append(1)
            if len(answered) == 1:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
                             b"HTTP/1.1 299 Stale\r\nContent-Length: 5\r\n\r\nstale")
            else:
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond")

    server = RawServer(stray)
    servers.append(server)
    url = f"http://127.0.0.1:{server.port}/hooks"
    first, second = (transport.Request(url, {}, "{}", 5) for _ in range(2))
    run([first, second])
    assert (first.outcome.status, first.outcome.body) == (200, "first"), first.outcome
    assert (second.outcome.status, second.outcome.body) == (200, "second"), second.outcome
    assert server.connections == 2


def test_a_clean_answer_keeps_the_connection(env, servers):
    """The control for the test above: without stray bytes one connection serves both."""
    from chalicelib.webhooks.delivery import transport

    def clean(sock: Any, server: RawServer) -> None:
        buffered = bytearray()
        while read_request(sock, buffered) is not None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = RawServer(clean)
    servers.append(server)
    url = f"http://127.0.0.1:{server.port}/hooks"
    reqs = [transport.Request(url, {}, "{}", 5) for _ in range(2)]
    run(reqs)
    assert [r.outcome.status for r in reqs] == [200, 200]
    assert server.connections == 1


# -- 4. every checked address, within the attempt's budget ------------------------------

def test_an_address_that_refuses_falls_back_to_the_next(env, monkeypatch):
    """The name resolves to two checked addresses; the first refuses (nothing listens on
    127.0.0.2), so the attempt is delivered to the second."""
    from chalicelib.webhooks import ssrf
    from chalicelib.webhooks.delivery import transport

    addrs = [ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")]
    monkeypatch.setattr(ssrf, "resolve", lambda url: list(addrs))
    with Receiver() as receiver:
        req = transport.Request(f"http://localhost:{receiver.port}/hooks", {}, "{}", 5)
        run([req])
        assert req.outcome.status == 200, req.outcome
        assert len(receiver.requests) == 1
        # Every address refusing: a failed attempt naming the refusal.
        addrs[1] = ipaddress.ip_address("127.0.0.3")
        failed = transport.Request(f"http://localhost:{receiver.port}/other", {}, "{}", 5)
        run([failed])
        assert failed.outcome.status is None and "ConnectionRefused" in str(
            failed.outcome.error), failed.outcome


def test_a_hanging_resolver_costs_no_more_than_the_timeout(env, monkeypatch):
    """The lookup (getaddrinfo, on a thread) counts against the attempt's budget."""
    from chalicelib.webhooks import ssrf
    from chalicelib.webhooks.delivery import transport

    release = threading.Event()

    def hanging(url: str) -> list[Any]:
        release.wait(GUARD * 2)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(ssrf, "resolve", hanging)
    req = transport.Request("http://localhost:9/hooks", {}, "{}", 1.5)

    async def go() -> None:
        try:
            await asyncio.wait_for(transport.send(req, transport.Clients()), GUARD)
        finally:
            release.set()  # the lookup's thread, which asyncio.run waits for

    asyncio.run(go())
    assert req.outcome.timed_out and req.outcome.status is None, req.outcome
    assert "resolving" in str(req.outcome.error), req.outcome
    assert req.outcome.duration_ms < 1500 + 1500, req.outcome
