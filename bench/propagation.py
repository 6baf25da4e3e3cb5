"""Benchmark: what an owner's change costs when it must reach the owner's keys and
clients (issue 7: propagated before the answer returns). The same route, PUT /users/{id},
changing roles (propagates) against changing the email (does not), for owners holding
0, 25 and 100 keys, in-process against moto; medians of 5."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from bench.harness import DynamoCounter, admin_token, in_process_stack, request

SIZES = (0, 25, 100)
ROUNDS = 5


def _timed(client: Any, headers: dict[str, str], path: str, body: dict[str, Any],
           counter: DynamoCounter) -> tuple[float, int]:
    counter.reset()
    started = time.perf_counter()
    resp = request(client, "PUT", path, headers, body)
    elapsed = (time.perf_counter() - started) * 1000
    assert resp.status_code == 200, resp.body
    return elapsed, len(counter.calls)


def run() -> dict[str, Any]:
    out: dict[str, Any] = {}
    with in_process_stack() as client:
        admin = {"Authorization": f"Bearer {admin_token(client)}"}
        counter = DynamoCounter()
        for size in SIZES:
            name = f"owner{size}"
            made = request(client, "POST", "/api/v1/users", admin,
                           {"username": name, "email": f"{name}@ex.com",
                            "password": "bench-password-1", "roles": ["integrator"]})
            user_id = json.loads(made.body)["data"]["id"]
            # The owner makes its own keys (a key belongs to whoever made it).
            login = request(client, "POST", "/api/v1/auth/login", {},
                            {"username": name, "password": "bench-password-1"})
            own = {"Authorization": f"Bearer {json.loads(login.body)['access_token']}"}
            for i in range(size):
                resp = request(client, "POST", "/api/v1/api-keys", own,
                               {"name": f"k{i}", "scopes": ["orders:read"]})
                assert resp.status_code == 201, resp.body
            path = f"/api/v1/users/{user_id}"
            rights, plain, calls = [], [], 0
            for r in range(ROUNDS):
                ms, calls = _timed(client, admin, path,
                                   {"roles": ["analyst" if r % 2 == 0 else "integrator"]},
                                   counter)
                rights.append(ms)
                plain.append(_timed(client, admin, path, {"email": f"{name}{r}@ex.com"},
                                    counter)[0])
            base = statistics.median(plain)
            changed = statistics.median(rights)
            out[str(size)] = {"rightsChangeMs": round(changed, 1), "emailChangeMs": round(base, 1),
                              "ratio": round(changed / base, 2), "dynamoCalls": calls}
    return out
