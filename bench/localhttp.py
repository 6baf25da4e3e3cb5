"""Benchmark: the local stack as a client sees it, over real HTTP against
`python -m devstack`: a keep-alive connection (as httpx.Client, requests.Session,
Postman and browsers use) against a new connection per request, for GET /api/health and
for an authenticated GET; medians of 200 (the first 10 dropped as warm-up)."""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.harness import fake_credentials

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

    from tests.e2e.conftest import ADMIN_SECRET, _child_env, _free_port, _stop, _wait_healthy

    fake_credentials()
    port, aws_port = _free_port(), _free_port()
    env = _child_env(port, aws_port)
    env["GATEHOUSE_BURST_LIMIT"] = "1000000"
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=root, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        assert _wait_healthy(proc, base), "local stack did not start"
        token = httpx.post(f"{base}/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                           auth=("admin", ADMIN_SECRET)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        for name, path, headers in (("health", "/api/health", {}),
                                    ("authenticatedGet", "/api/v1/oauth/token/validate", auth)):
            with httpx.Client(base_url=base, headers=headers) as client:
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
    finally:
        _stop(proc)
        log.close()
    return out
