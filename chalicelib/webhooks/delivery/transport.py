"""One attempt over HTTP: the SSRF check at every attempt, a connection to the checked
address only (the Host header and TLS SNI keep the name, and the certificate is checked
against it), at most PER_HOST attempts in flight per receiver host, a total time bound,
and the answer (status, Retry-After, the start of the body) as an Outcome.

HTTP/1.1 is spoken by h11 over asyncio streams, with keep-alive connections kept for the
batch: an attempt costs about a tenth of the CPU httpx's client took (0.36 vs 3.7 ms
measured here), which is what bounded a batch's throughput once the store overlaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote, urlsplit

from chalicelib.core import clock

LOG_BODY_BYTES = 4096
PER_HOST = 20  # concurrent attempts per receiver host within one invocation
MIN_ATTEMPT = 1.0  # an attempt with less time than this is not started
READ_CHUNK = 65536


@dataclass
class Outcome:
    status: int | None = None
    duration_ms: int = 0
    body: str = ""
    error: str | None = None
    retry_after: float | None = None
    timed_out: bool = False
    unsent: bool = False  # no budget left once its turn came: released, not attempted

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Request:
    url: str
    headers: dict[str, str]
    body: str
    timeout: float
    deadline: float | None = None  # time.monotonic() by which the attempt must be over
    outcome: Outcome = field(default_factory=Outcome)

    def budget(self) -> float:
        """The attempt's timeout: the webhook's, or less if the invocation is ending."""
        if self.deadline is None:
            return self.timeout
        return min(self.timeout, self.deadline - time.monotonic())


def parse_retry_after(value: str | None) -> float | None:
    """Seconds or an HTTP-date (RFC 9110 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - clock.now())
    except (TypeError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Target:
    """Where an attempt goes: the URL's parts and the checked addresses."""

    scheme: str
    host: str  # normalised (lower case, IDNA)
    port: int
    path: str  # with the query
    addrs: tuple[str, ...]

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


# The request target is ASCII (h11 sends it as such): the path and the query are
# percent-encoded as httpx did (the WHATWG percent-encode sets), UTF-8 for non-ASCII.
# "%" is safe, so escapes already written stay as they are. (Controls and spaces never
# get here: the SSRF check refuses them.)
_QUERY_SAFE = "".join(chr(i) for i in range(0x21, 0x7F) if chr(i) not in '"#<>')
_PATH_SAFE = "".join(c for c in _QUERY_SAFE if c not in "?`{}")


def resolve(url: str) -> Target:
    """The URL's target with the addresses it may connect to (raises when the target is
    not allowed)."""
    from chalicelib.webhooks import ssrf

    addrs = tuple(str(ip) for ip in ssrf.resolve(url))
    host, port = ssrf.target(url)
    parts = urlsplit(url)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return Target(parts.scheme, host, port, path, addrs)


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One per container: building one (loading the CA bundle) costs milliseconds."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # the system's CAs
        return ssl.create_default_context()


Key = tuple[str, str, int, str]  # scheme, address, port, host: one pool of idle connections


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        import h11

        self.reader, self.writer = reader, writer
        self.http = h11.Connection(our_role=h11.CLIENT)

    def reusable(self) -> bool:
        import h11

        return (self.http.our_state is h11.IDLE and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        """Aborts, never closes gracefully: over TLS a graceful close waits for the peer's
        close_notify (asyncio's 30 s shutdown timeout), and over TCP for a full send
        buffer to drain, which a receiver that stopped reading never lets happen. The
        attempt is over either way: the socket is dropped without a goodbye."""
        self.writer.transport.abort()


class Clients:
    """What a batch's attempts share: each URL's checked target, resolved once per
    batch; a slot count per receiver host; and idle keep-alive connections per pinned
    address (a connection never carries one host's TLS session to another)."""

    def __init__(self) -> None:
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._idle: dict[Key, list[_Connection]] = {}
        self.resolved: dict[str, asyncio.Future[Target]] = {}

    async def target(self, url: str, timeout: float) -> Target:
        """The URL's checked target: one lookup per URL per batch, off the loop, shared
        by the batch's attempts to it (one that gives up after `timeout` does not cancel
        it for the others)."""
        if url not in self.resolved:
            self.resolved[url] = asyncio.get_running_loop().run_in_executor(
                None, resolve, url)
        found = self.resolved[url]
        if not found.done():  # done: no timer, no trip through the loop
            await asyncio.wait_for(asyncio.shield(found), max(timeout, 0.0))
        return found.result()

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """At most PER_HOST attempts in flight per receiver host (polite to receivers);
        waiting for a slot is not part of the attempt's timeout."""
        if host not in self._slots:
            self._slots[host] = asyncio.Semaphore(PER_HOST)
        async with self._slots[host]:
            yield

    async def connection(self, target: Target, deadline: float) -> tuple[Key, _Connection]:
        """An idle connection to one of the target's addresses, else a new one: the
        checked addresses in resolver order, one that fails falling back to the next.
        Each but the last gets its share of the time left before `deadline`
        (time.monotonic()), so that one that never answers leaves the others time."""
        for addr in target.addrs:
            key = (target.scheme, addr, target.port, target.host)
            idle = self._idle.get(key) or []
            while idle:
                conn = idle.pop()
                if conn.reusable():
                    return key, conn
                conn.close()
        tls = tls_context() if target.scheme == "https" else None
        failure: OSError | None = None
        for i, addr in enumerate(target.addrs):
            left = len(target.addrs) - i
            share = (deadline - time.monotonic()) / left if left > 1 else None
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    addr, target.port, ssl=tls,
                    server_hostname=target.host if tls else None), share)
            except OSError as exc:  # TimeoutError (its share spent) included
                failure = exc
                continue
            return (target.scheme, addr, target.port, target.host), _Connection(reader, writer)
        raise failure or OSError("the target has no address")

    def keep(self, key: Key, conn: _Connection) -> None:
        self._idle.setdefault(key, []).append(conn)

    async def close(self) -> None:
        """The batch's end: its idle connections aborted (costs nothing, see
        _Connection.close)."""
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        return value.encode("utf-8")


async def _exchange(req: Request, target: Target, clients: Clients, timeout: float) -> None:
    """POST the body; read the status, Retry-After and at most LOG_BODY_BYTES of the
    answer. The connection is kept only when the answer was read to its end."""
    import h11

    out = req.outcome
    key, conn = await clients.connection(target, time.monotonic() + timeout)
    kept = False
    try:
        body = req.body.encode()
        headers = [(b"Host", _header_bytes(target.host_header)),
                   (b"Content-Length", str(len(body)).encode())]
        headers += [(_header_bytes(k), _header_bytes(v)) for k, v in req.headers.items()
                    if k.lower() not in ("host", "content-length")]
        conn.writer.write(conn.http.send(h11.Request(method="POST", target=target.path,
                                                     headers=headers))
                          + conn.http.send(h11.Data(data=body))
                          + conn.http.send(h11.EndOfMessage()))
        await conn.writer.drain()
        got = b""
        while True:
            event = conn.http.next_event()
            if event is h11.NEED_DATA:
                conn.http.receive_data(await conn.reader.read(READ_CHUNK))
            elif isinstance(event, h11.Response):
                out.status = event.status_code
                out.retry_after = parse_retry_after(next(
                    (v.decode("latin-1") for k, v in event.headers if k == b"retry-after"),
                    None))
            elif isinstance(event, h11.Data):
                got += event.data
                if len(got) >= LOG_BODY_BYTES:
                    break  # enough for the log: the rest is not read
            elif isinstance(event, h11.EndOfMessage):
                # Bytes after the answer (or its EOF) would be read as the next
                # attempt's answer: such a connection is not kept.
                if (conn.http.their_state is h11.DONE and conn.http.our_state is h11.DONE
                        and conn.http.trailing_data == (b"", False)):
                    conn.http.start_next_cycle()
                    kept = True
                break
            elif isinstance(event, h11.ConnectionClosed):
                if out.status is None:
                    raise ConnectionResetError("the receiver closed the connection "
                                               "without an answer")
                break
        out.body = got[:LOG_BODY_BYTES].decode("utf-8", "replace")
    finally:
        if kept:
            clients.keep(key, conn)
        else:
            conn.close()


async def send(req: Request, clients: Clients) -> None:
    """Attempts the request; its outcome (never raises) goes into `req.outcome`. The
    attempt's time bound covers the lookup, connecting and a trickling answer; waiting
    for a slot is not part of it."""
    out = req.outcome
    started = time.perf_counter()
    allowed = req.budget()
    try:
        # The SSRF check runs at every attempt; the connection goes to the checked address
        # only, so DNS cannot be rebound after it.
        target = await clients.target(req.url, allowed)
    except TimeoutError:
        out.timed_out, out.error = True, f"timed out after {allowed:g}s resolving the host"
        out.duration_ms = int((time.perf_counter() - started) * 1000)
        return
    except Exception as exc:  # noqa: BLE001 - an SSRF refusal or a bad URL is a failed attempt
        out.status, out.error = None, f"refused: {exc}"[:500]
        out.duration_ms = int((time.perf_counter() - started) * 1000)
        return
    resolving = time.perf_counter() - started
    timeout = allowed
    try:
        async with clients.slot(target.host):
            timeout = req.budget()
            if timeout < MIN_ATTEMPT:
                out.unsent, out.error = True, "not attempted: the invocation ran out of time"
                return
            timeout = min(timeout, req.timeout - resolving)
            started = time.perf_counter() - resolving
            await asyncio.wait_for(_exchange(req, target, clients, timeout), timeout)
        if 300 <= (out.status or 0) < 400:
            out.error = "redirect not followed"
    except TimeoutError:
        out.timed_out, out.status = True, None
        out.error = f"timed out after {round(timeout + resolving, 3):g}s"
    except Exception as exc:  # noqa: BLE001 - the network's, the receiver's or h11's: failed
        out.status = None
        out.error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    out.duration_ms = int((time.perf_counter() - started) * 1000)
