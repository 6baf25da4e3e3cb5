"""Benchmark 4: rate limiter exactness under concurrency: N threads x M requests against
a limit L; over-admissions must be 0. Against the local stack's emulator
(devstack.emulator.provisioned): the calls are answered in this process, as the local
stack answers the app's, each DynamoDB call under the emulator's lock (DynamoDB's per-item
atomicity); nothing goes over HTTP."""

from __future__ import annotations

from typing import Any


def run(threads: int = 16, per_thread: int = 25, limit: int = 150) -> dict[str, Any]:
    """Run it in a process of its own (make bench does): the emulator patches moto for
    the rest of the process, and an active moto mock would answer instead."""
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
