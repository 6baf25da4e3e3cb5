"""Benchmark 1: DynamoDB round trips on the path of one authenticated GET."""

from __future__ import annotations

import json
from typing import Any

from bench.harness import DynamoCounter, admin_token, in_process_stack, request

PATH = "/api/v1/oauth/token/validate"


def run() -> dict[str, Any]:
    with in_process_stack() as client:
        token = admin_token(client)
        created = request(client, "POST", "/api/v1/api-keys",
                          {"Authorization": f"Bearer {token}"},
                          {"name": "bench", "scopes": ["orders:read"]})
        key = json.loads(created.body)["data"]["key"] if created.status_code == 201 else ""
        counter = DynamoCounter()
        result: dict[str, Any] = {}
        for label, headers in (("bearer", {"Authorization": f"Bearer {token}"}),
                               ("api_key", {"X-API-Key": key})):
            if label == "api_key" and not key:
                result[label] = {"error": f"could not create a key ({created.status_code})"}
                continue
            request(client, "GET", PATH, headers)  # warm: caches, stale-counter cleanup
            samples = []
            for _ in range(5):
                counter.reset()
                resp = request(client, "GET", PATH, headers)
                assert resp.status_code == 200, resp.body
                samples.append(list(counter.calls))
            result[label] = {"roundTrips": max(len(s) for s in samples), "calls": samples[-1]}
        return result
