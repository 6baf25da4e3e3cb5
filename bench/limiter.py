"""Benchmark 4: rate limiter exactness under concurrency, over real HTTP to moto's
server: N threads x M requests against a limit L; over-admissions must be 0."""

from __future__ import annotations

import threading
from typing import Any


def run(threads: int = 16, per_thread: int = 25, limit: int = 150) -> dict[str, Any]:
    """Run it in a process of its own: an active in-process moto mock would answer the
    calls instead of the server."""
    from chalicelib.http import ratelimit
    from chalicelib.local.emulator import provisioned
    from chalicelib.store import table as store

    # The local stack's emulator: moto with DynamoDB's per-item atomicity restored.
    with provisioned("benchlimit"):
        store.put({"PK": "CLIENT#bench", "SK": "CLIENT", "active": True, "hourLimit": limit})
        admitted = [0] * threads
        refused = [0] * threads
        barrier = threading.Barrier(threads)

        def worker(i: int) -> None:
            barrier.wait()
            for _ in range(per_thread):
                charge = ratelimit.charge("CLIENT#bench", "CLIENT", hour_limit="hourLimit",
                                          burst_limit=10**9, condition="active = :t",
                                          values={":t": True})
                if charge.allowed:
                    admitted[i] += 1
                else:
                    refused[i] += 1

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        total = sum(admitted)
        return {"threads": threads, "perThread": per_thread, "limit": limit,
                "admitted": total, "refused": sum(refused),
                "overAdmissions": max(0, total - limit),
                "underAdmissions": max(0, min(limit, threads * per_thread) - total)}
