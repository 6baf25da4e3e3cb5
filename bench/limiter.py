"""Benchmark 4: rate limiter exactness under concurrency, over real HTTP to moto's
server: N threads x M requests against a limit L; over-admissions must be 0."""

from __future__ import annotations

from typing import Any


def run(threads: int = 16, per_thread: int = 25, limit: int = 150) -> dict[str, Any]:
    """Run it in a process of its own: an active in-process moto mock would answer the
    calls instead of the server."""
    from chalicelib.auth import limiter
    from chalicelib.store import table as store
    from devstack.emulator import provisioned, race

    # The local stack's emulator: moto with DynamoDB's per-item atomicity restored.
    with provisioned("benchlimit"):
        store.put({"PK": "CLIENT#bench", "SK": "CLIENT", "active": True, "hourLimit": limit})

        def attempt() -> bool:
            return limiter.charge("CLIENT#bench", "CLIENT", hour_limit="hourLimit",
                                    burst_limit=10**9, condition="active = :t",
                                    values={":t": True}).allowed

        total, refused = race(threads, per_thread, attempt)
        return {"threads": threads, "perThread": per_thread, "limit": limit,
                "admitted": total, "refused": refused,
                "overAdmissions": max(0, total - limit),
                "underAdmissions": max(0, min(limit, threads * per_thread) - total)}
