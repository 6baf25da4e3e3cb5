"""Benchmark: the local stack as a client sees it, over real HTTP against
`python -m devstack`: one keep-alive connection (as httpx.Client, requests.Session,
Postman and browsers keep) against a new connection per request, both through the same
client (http.client, so the client's own cost is the same both ways), for GET
/api/health and for an authenticated GET; p50 of 200 (the first 10 dropped as warm-up)."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import Any

from bench.harness import local_admin_token, local_stack_process
from bench.stats import percentile

N, WARM = 200, 10


def _p50_ms(call: Callable[[], int]) -> float:
    times = []
    for i in range(N + WARM):
        started = time.perf_counter()
        status = call()
        if i >= WARM:
            times.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    return round(percentile(times, 50), 2)


def _get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    resp.read()
    return resp.status


def run() -> dict[str, Any]:
    out: dict[str, Any] = {}
    with local_stack_process() as stack:
        auth = {"Authorization": f"Bearer {local_admin_token(stack.base)}"}
        port = int(stack.base.rsplit(":", 1)[1])
        for name, path, headers in (("health", "/api/health", {}),
                                    ("authenticatedGet", "/api/v1/oauth/token/validate", auth)):
            kept = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                keep = _p50_ms(lambda: _get(kept, path, headers))  # noqa: B023
            finally:
                kept.close()

            def fresh() -> int:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    return _get(conn, path, headers)  # noqa: B023
                finally:
                    conn.close()

            out[name] = {"keepAliveP50Ms": keep, "newConnectionP50Ms": _p50_ms(fresh)}
    return out
