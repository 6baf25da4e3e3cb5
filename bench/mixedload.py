"""Benchmark: mixed load against the local stack over real HTTP (`python -m devstack`, what
`make run` starts). 16 clients, each with its own API key and its own keep-alive
connection, each repeating create a customer, list customers, read the one it created,
for `seconds` (20 in `make bench`; `python -m bench.mixedload 60` for the full minute).
Then every customer whose create answered 201 is read back: one missing or different is
a lost write. Goal: at least 100 requests/s in all, none lost, no 5xx."""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.harness import StackProcess, local_admin_token, local_stack_process
from bench.stats import percentile

CLIENTS = 16
GOAL_PER_SECOND = 100
GOAL = (f"{CLIENTS} clients, own API key each, create/list/read customers over HTTP against "
        f"`python -m devstack` for 20 s: requests/s (goal >= {GOAL_PER_SECOND}), p50/p99, the "
        "stack's CPU per request; lost writes (every 201 read back) and 5xx must be 0")


@dataclass
class Tally:
    """One client's figures; each client thread writes only its own."""
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"create": [], "list": [], "read": []})
    created: list[tuple[str, str]] = field(default_factory=list)  # (id, email)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # unexpected answers, transport errors


class Conn:
    """A keep-alive connection that reconnects after a transport error."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        url = urlsplit(base)
        self.host, self.port = str(url.hostname), int(url.port or 80)
        self.headers = headers
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            raise
        return resp.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self.conn.close()


def _client(base: str, key: str, tag: str, start: threading.Barrier, until: list[float],
            tally: Tally) -> None:
    conn = Conn(base, {"X-API-Key": key})

    def timed(op: str, method: str, path: str, body: Any = None,
              expect: int = 200) -> Any:
        began = time.perf_counter()
        try:
            status, answer = conn.call(method, path, body)
        except (OSError, http.client.HTTPException) as exc:
            tally.failures.append(f"{op}: {type(exc).__name__}: {exc}")
            return None
        tally.latencies[op].append((time.perf_counter() - began) * 1000)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        if status != expect:
            tally.failures.append(f"{op}: {status} {str(answer)[:200]}")
            return None
        return answer

    start.wait()
    n = 0
    try:
        while time.monotonic() < until[0]:
            n += 1
            email = f"{tag}-{n}@mixed.example"
            made = timed("create", "POST", "/api/v1/customers",
                         {"email": email, "name": f"Mixed {tag} {n}"}, expect=201)
            if made is not None:
                tally.created.append((made["data"]["id"], email))
            timed("list", "GET", "/api/v1/customers?perPage=20")
            if made is not None:
                timed("read", "GET", f"/api/v1/customers/{made['data']['id']}")
    finally:
        conn.close()


def _lost(base: str, key: str, created: list[tuple[str, str]]) -> int:
    """Customers answered 201 that cannot be read back as written."""
    conn = Conn(base, {"X-API-Key": key})
    lost = 0
    try:
        for customer_id, email in created:
            status, answer = conn.call("GET", f"/api/v1/customers/{customer_id}")
            if status != 200 or answer["data"].get("email") != email:
                lost += 1
    finally:
        conn.close()
    return lost


def measure(stack: StackProcess, seconds: float, clients: int = CLIENTS) -> dict[str, Any]:
    base = stack.base
    admin = Conn(base, {"Authorization": f"Bearer {local_admin_token(base)}"})
    keys = []
    for i in range(clients):
        status, answer = admin.call("POST", "/api/v1/api-keys", {
            "name": f"mixed load {i}", "scopes": ["customers:read", "customers:write"],
            "rateLimit": 1_000_000})
        assert status == 201, answer
        keys.append(str(answer["key"] if "key" in answer else answer["data"]["key"]))
    admin.close()
    run_id = uuid.uuid4().hex[:8]
    tallies = [Tally() for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    until = [0.0]
    threads = [threading.Thread(target=_client, args=(base, keys[i], f"{run_id}-{i}", start,
                                                      until, tallies[i]), daemon=True)
               for i in range(clients)]
    for thread in threads:
        thread.start()
    until[0] = time.monotonic() + seconds
    began, cpu_before = time.monotonic(), stack.cpu_seconds()
    start.wait()
    for thread in threads:
        thread.join()
    took, cpu = time.monotonic() - began, stack.cpu_seconds() - cpu_before
    every = [ms for t in tallies for op in t.latencies.values() for ms in op]
    by_op = {op: [ms for t in tallies for ms in t.latencies[op]] for op in ("create", "list",
                                                                             "read")}
    statuses: dict[int, int] = {}
    for t in tallies:
        for code, count in t.statuses.items():
            statuses[code] = statuses.get(code, 0) + count
    created = [c for t in tallies for c in t.created]
    failures = [f for t in tallies for f in t.failures]
    lost = _lost(base, keys[0], created)
    return {
        "clients": clients, "seconds": round(took, 1), "requests": len(every),
        "perSecond": round(len(every) / took, 1), "goalPerSecond": GOAL_PER_SECOND,
        "p50Ms": round(percentile(every, 50), 1), "p99Ms": round(percentile(every, 99), 1),
        # The stack's own CPU per request (its threads, the worker's included): what
        # bounds throughput on a busy machine, where requests/s also measures the others.
        "stackCpuMsPerRequest": round(cpu * 1000 / max(1, len(every)), 2),
        "loadAverage": round(os.getloadavg()[0], 1),
        "byOperationP50Ms": {op: round(percentile(v, 50), 1) for op, v in by_op.items()},
        "created": len(created), "lostWrites": lost,
        "serverErrors": sum(c for code, c in statuses.items() if code >= 500),
        "errors": len(failures), "firstErrors": failures[:5],
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def rows(r: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The bench table's lines."""
    return [
        (f"mixed load, {r['clients']} clients, {r['seconds']:.0f} s",
         f"{r['perSecond']}/s, p50 {r['p50Ms']} ms, p99 {r['p99Ms']} ms",
         f">= {GOAL_PER_SECOND}/s"),
        ("  stack CPU per request", f"{r['stackCpuMsPerRequest']} ms (load average "
         f"{r['loadAverage']})", "report"),
        ("  lost writes, 5xx, other errors", f"{r['lostWrites']} of {r['created']}, "
         f"{r['serverErrors']}, {r['errors']}", "0, 0, 0"),
    ]


def run(seconds: float = 20.0, clients: int = CLIENTS) -> dict[str, Any]:
    with local_stack_process() as stack:
        return measure(stack, seconds, clients)


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    print(json.dumps(run(args[0] if args else 20.0,
                         int(args[1]) if len(args) > 1 else CLIENTS), indent=2))
