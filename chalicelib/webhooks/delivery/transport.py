"""One attempt over HTTP: the SSRF check at every attempt, a connection to the checked
address only, at most PER_HOST attempts in flight per receiver host, a total time bound,
and the answer (status, Retry-After, the start of the body) as an Outcome."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core import clock

LOG_BODY_BYTES = 4096
PER_HOST = 20  # concurrent attempts per receiver host within one invocation
POOL_SIZE = 5  # connections per httpx pool; a host gets PER_HOST / POOL_SIZE pools
MIN_ATTEMPT = 1.0  # an attempt with less time than this is not started


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


def resolve(url: str) -> list[str]:
    """The addresses the attempt may connect to (raises when the target is not allowed)."""
    from chalicelib.webhooks import ssrf

    return [str(ip) for ip in ssrf.resolve(url)]


class Clients:
    """Connection pools per target host (pooled connections are keyed by the pinned
    address, and must never carry one host's TLS session to another), several small
    ones per host: httpx's pool costs more CPU per request the more connections it holds
    (one pool of 20 ran at 19% of a receiver's capacity, four of 5 at about 50%). Also
    each URL's checked addresses, resolved once per batch."""

    def __init__(self) -> None:
        self._by_host: dict[str, list[Any]] = {}
        self._busy: dict[int, int] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self.resolved: dict[str, Any] = {}

    def pools(self, host: str) -> list[Any]:
        import httpx

        if host not in self._by_host:
            self._by_host[host] = [httpx.AsyncClient(
                follow_redirects=False, trust_env=False,  # no proxies, no redirects
                limits=httpx.Limits(max_connections=POOL_SIZE,
                                    max_keepalive_connections=POOL_SIZE))
                for _ in range(max(1, math.ceil(PER_HOST / POOL_SIZE)))]
        return self._by_host[host]

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[Any]:
        """At most PER_HOST attempts in flight per receiver host (polite to receivers),
        each on the least busy pool, which then always has a free connection: waiting
        for a slot is not part of the attempt's timeout, and no attempt waits inside a
        pool. Yields the pool to send with."""
        if host not in self._slots:
            self._slots[host] = asyncio.Semaphore(PER_HOST)
        async with self._slots[host]:
            pool = min(self.pools(host), key=lambda p: self._busy.get(id(p), 0))
            self._busy[id(pool)] = self._busy.get(id(pool), 0) + 1
            try:
                yield pool
            finally:
                self._busy[id(pool)] -= 1

    async def addresses(self, url: str) -> list[str]:
        """The URL's checked addresses (one lookup per URL per batch, off the loop)."""
        if url not in self.resolved:
            self.resolved[url] = asyncio.get_running_loop().run_in_executor(
                None, resolve, url)
        return list(await self.resolved[url])

    async def close(self) -> None:
        for pools in self._by_host.values():
            for pool in pools:
                await pool.aclose()


async def send(req: Request, clients: Clients) -> None:
    """Attempts the request; its outcome (never raises) goes into `req.outcome`."""
    import httpx

    out = req.outcome
    started = time.perf_counter()
    timeout = req.timeout
    try:
        # The SSRF check runs at every attempt; the connection goes to the checked address
        # only (Host header and TLS SNI keep the name), so DNS cannot be rebound after it.
        addrs = await clients.addresses(req.url)
        url = httpx.URL(req.url)
        host = url.host
        pinned = url.copy_with(host=addrs[0])
        headers = dict(req.headers)
        default_port = {"http": 80, "https": 443}[url.scheme]
        headers["Host"] = host if url.port in (None, default_port) else f"{host}:{url.port}"

        async def exchange(client: Any) -> None:
            request = client.build_request(
                "POST", pinned, content=req.body.encode(), headers=headers,
                timeout=httpx.Timeout(timeout),
                extensions={"sni_hostname": host} if url.scheme == "https" else {})
            resp = await client.send(request, stream=True)
            try:
                out.status = resp.status_code
                out.retry_after = parse_retry_after(resp.headers.get("retry-after"))
                got = b""
                async for chunk in resp.aiter_raw():
                    got += chunk
                    if len(got) >= LOG_BODY_BYTES:
                        break
                out.body = got[:LOG_BODY_BYTES].decode("utf-8", "replace")
            finally:
                await resp.aclose()

        async with clients.slot(host) as client:
            timeout = req.budget()
            if timeout < MIN_ATTEMPT:
                out.unsent, out.error = True, "not attempted: the invocation ran out of time"
                return
            started = time.perf_counter()
            # httpx's timeout is per phase; the attempt's is total (a trickling body counts).
            await asyncio.wait_for(exchange(client), timeout)
        if 300 <= (out.status or 0) < 400:
            out.error = "redirect not followed"
    except (TimeoutError, httpx.TimeoutException):
        out.timed_out, out.status = True, None
        out.error = f"timed out after {timeout:g}s"
    except httpx.HTTPError as exc:
        out.status = None
        out.error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - an SSRF refusal or a bad URL is a failed attempt
        out.status = None
        out.error = f"refused: {exc}"[:500]
    out.duration_ms = int((time.perf_counter() - started) * 1000)
