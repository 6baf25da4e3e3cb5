"""Benchmark: the local stack as a client sees it, over real HTTP against
`python -m devstack`: a keep-alive connection (as httpx.Client, requests.Session,
Postman and browsers use) against a new connection per request, for GET /api/health and
for an authenticated GET; medians of 200 (the first 10 dropped as warm-up)."""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.harness import local_admin_token, local_stack_process

N, WARM = 200, 10


def _median_ms(call: Callable[[], int]) -> float:
    times = []
    for i in range(N + WARM):
        started = time.perf_counter()
        status = call()
        if i >= WARM:
            times.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    return round(statistics.median(times), 2)


def run() -> dict[str, Any]:
    import httpx

    out: dict[str, Any] = {}
    with local_stack_process() as stack:
        auth = {"Authorization": f"Bearer {local_admin_token(stack.base)}"}
        port = int(stack.base.rsplit(":", 1)[1])
        for name, path, headers in (("health", "/api/health", {}),
                                    ("authenticatedGet", "/api/v1/oauth/token/validate", auth)):
            with httpx.Client(base_url=stack.base, headers=headers) as client:
                keep = _median_ms(lambda: client.get(path).status_code)  # noqa: B023

            def fresh() -> int:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    conn.request("GET", path, headers=headers)  # noqa: B023
                    resp = conn.getresponse()
                    resp.read()
                    return resp.status
                finally:
                    conn.close()

            out[name] = {"keepAliveP50Ms": keep, "newConnectionP50Ms": _median_ms(fresh)}
    return out
