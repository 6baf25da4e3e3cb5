"""Benchmark 3: the whole request pipeline (auth, limit, logging) against a bare route,
both in-process against moto in one run."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.harness import DynamoCounter, admin_token, in_process_stack, request

N = 300


def _median_ms(client: Any, path: str, headers: dict[str, str]) -> float:
    times = []
    for _ in range(N):
        start = time.perf_counter()
        resp = request(client, "GET", path, headers)
        times.append(time.perf_counter() - start)
        assert resp.status_code == 200, resp.body
    return statistics.median(times) * 1000


def run() -> dict[str, Any]:
    with in_process_stack() as client:
        token = admin_token(client)
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(20):  # warm both paths
            request(client, "GET", "/api/health", {})
            request(client, "GET", "/api/v1/oauth/token/validate", auth)
        bare = _median_ms(client, "/api/health", {})
        counter = DynamoCounter()
        full = _median_ms(client, "/api/v1/oauth/token/validate", auth)
        dynamo_ms = counter.seconds * 1000 / N
    return {"bareMedianMs": round(bare, 3), "pipelineMedianMs": round(full, 3),
            "ratio": round(full / bare, 1), "requests": N,
            "dynamoMsPerRequest": round(dynamo_ms, 3),
            "pipelineWithoutDynamoMs": round(full - dynamo_ms, 3)}
