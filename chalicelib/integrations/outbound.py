"""A connector's outbound HTTP call, behind the same SSRF guard as webhook attempts.

Every request resolves its URL through the guard (webhooks/delivery/transport.resolve:
form, then every address the name resolves to must be public unless allow-listed) and
connects to a checked address only: the Host header and TLS SNI keep the name, the
certificate is checked against it, and DNS cannot be rebound between check and connect.
A bounded time for the whole exchange (a trickling answer included), a bounded answer
size, and redirects are never followed (a 3xx is a failure, so a remote cannot send us
to an internal host).

Synchronous on purpose (http.client): a sync job makes one call at a time.
"""

from __future__ import annotations

import http.client
import socket
import time
from dataclasses import dataclass
from typing import Any

TIMEOUT = 15.0                 # seconds for one exchange, lookup to last byte
MAX_ANSWER = 8 * 1024 * 1024   # bytes of an answer's body
READ_CHUNK = 65536


class RemoteError(Exception):
    """A call that did not get a usable answer. `transient`: worth trying again (a 5xx,
    429, a timeout, a refused connection); otherwise not (a 4xx, an SSRF refusal, an
    oversized answer). Messages never carry credentials or the answer's body."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]   # lower-case names
    body: bytes


class _Pinned(http.client.HTTPConnection):
    """Connects to the checked address; the Host header keeps the name."""

    def __init__(self, host: str, port: int, addr: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addr = addr

    def connect(self) -> None:
        self.sock = socket.create_connection((self.addr, self.port), self.timeout)


class _PinnedTLS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, addr: str, timeout: float) -> None:
        from chalicelib.webhooks.delivery.transport import tls_context

        super().__init__(host, port, timeout=timeout, context=tls_context())
        self.addr = addr

    def connect(self) -> None:
        raw = socket.create_connection((self.addr, self.port), self.timeout)
        # SNI and the certificate's name check use the host name, not the address.
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def request(method: str, url: str, *, headers: dict[str, str] | None = None,
            body: bytes | None = None, timeout: float = TIMEOUT,
            max_bytes: int = MAX_ANSWER) -> Answer:
    """One exchange. Raises RemoteError (a refused target included); any status is an
    Answer except a redirect."""
    from chalicelib.webhooks.delivery.transport import parse_retry_after, resolve
    from chalicelib.webhooks.ssrf import BlockedTarget, ResolutionFailed

    deadline = time.monotonic() + timeout
    try:
        target = resolve(url)
    except ResolutionFailed as exc:
        raise RemoteError(f"refused: {exc.reason}", transient=True) from None
    except BlockedTarget as exc:
        raise RemoteError(f"refused: {exc.reason}", transient=False) from None
    failure: Exception | None = None
    for i, addr in enumerate(target.addrs):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        # Each address but the last gets its share of the time left.
        share = left / (len(target.addrs) - i)
        cls = _PinnedTLS if target.scheme == "https" else _Pinned
        conn = cls(target.host, target.port, addr, share)
        try:
            conn.connect()
        except OSError as exc:
            failure = exc
            conn.close()
            continue
        try:
            return _exchange(conn, method, target.path, headers or {}, body, deadline,
                             max_bytes, parse_retry_after)
        finally:
            conn.close()
    if isinstance(failure, TimeoutError) or failure is None:
        raise RemoteError(f"timed out after {timeout:g}s connecting", transient=True)
    raise RemoteError(f"could not connect: {type(failure).__name__}", transient=True)


def _exchange(conn: http.client.HTTPConnection, method: str, path: str,
              headers: dict[str, str], body: bytes | None, deadline: float,
              max_bytes: int, parse_retry_after: Any) -> Answer:
    try:
        conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        got = bytearray()
        while not resp.isclosed():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if conn.sock is not None:  # None once http.client handed it to the answer
                conn.sock.settimeout(left)
            chunk = resp.read1(READ_CHUNK) if hasattr(resp, "read1") else resp.read(READ_CHUNK)
            if not chunk:
                break
            got += chunk
            if len(got) > max_bytes:
                raise RemoteError(f"the answer is larger than {max_bytes} bytes",
                                  transient=False, status=resp.status)
    except TimeoutError:
        raise RemoteError("timed out waiting for the answer", transient=True) from None
    except ValueError:
        # http.client refuses a header value with control characters, quoting it: never
        # let that message (it may hold a credential) through.
        raise RemoteError("the request could not be sent: a header is not valid",
                          transient=False) from None
    except (OSError, http.client.HTTPException) as exc:
        raise RemoteError(f"the connection failed: {type(exc).__name__}",
                          transient=True) from None
    names = {k.lower(): v for k, v in resp.getheaders()}
    if 300 <= resp.status < 400:
        raise RemoteError(f"answered {resp.status} (a redirect, not followed)",
                          transient=False, status=resp.status)
    retry_after = parse_retry_after(names.get("retry-after"))
    if resp.status >= 500 or resp.status in (408, 429):
        raise RemoteError(f"answered {resp.status}", transient=True, status=resp.status,
                          retry_after=retry_after)
    return Answer(resp.status, names, bytes(got))
