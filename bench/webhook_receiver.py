"""The webhook benchmarks' receiver, in a process of its own (its capacity must not share
our GIL), answering every POST after 10 ms; what it can answer at most (new connections
and keep-alive, by a minimal asyncio client); and the engine's transport alone."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

RECEIVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # headers and body in one segment (no Nagle/delayed-ACK stall)
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.010)
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
class S(ThreadingHTTPServer):
    request_queue_size = 2048  # the listen backlog: read at bind time
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True); s.serve_forever()
"""
RECEIVER_WAIT = 0.010


@contextmanager
def receiver() -> Iterator[str]:
    """The receiver in its own process (its capacity must not share our GIL)."""
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield f"http://127.0.0.1:{int(proc.stdout.readline())}/hooks"
    finally:
        proc.terminate()
        proc.wait()


def capacity(url: str, n: int, concurrency: int = 200) -> float:
    """Requests per second the receiver answers when hammered by a minimal client (raw
    asyncio streams, one connection per request, `concurrency` at once): each request
    also pays for the receiver's new connection and thread; reported second."""
    from urllib.parse import urlsplit

    port = urlsplit(url).port
    request = (b"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
               b"Connection: close\r\n\r\n{}")

    async def main() -> float:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                await reader.read()
                writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - started)

    return asyncio.run(main())


def capacity_keepalive(url: str, n: int, connections: int = 64) -> float:
    """The same with keep-alive connections (the receiver's threads are not started per
    request): what the receiver can answer at most, the limit the engine is held to (its
    connections are kept for the batch)."""
    from urllib.parse import urlsplit

    port = urlsplit(url).port
    request = b"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"

    async def main() -> float:
        left = [n]

        async def one_connection() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            while left[0] > 0:
                left[0] -= 1
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                size = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(size)
            writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        return n / (time.perf_counter() - started)

    return asyncio.run(main())


def send_all(reqs: list[Any]) -> None:
    """Every request concurrently through the engine's transport: the HTTP side alone."""
    from chalicelib.webhooks.delivery import transport

    async def main() -> None:
        clients = transport.Clients()
        try:
            await asyncio.gather(*(transport.send(r, clients) for r in reqs))
        finally:
            await clients.close()

    if reqs:
        asyncio.run(main())
