"""Fanned-out exports: the same N products exported serially and fanned out over S
parallel Scan segments (exports/fanout.py) in the same run, on the local stack's
emulator (moto with devstack's patches, answered in-process).

    python -m bench.fanout [rows] [segments]      # default 20000 8

In one process the segments run one after another, so what is measured is each piece:
the serial export from claim to completed; the fan-out's spawn, each segment's
invocations, and the assembly. On AWS the segments run side by side in their own
functions, so the fanned-out wall time is projected as spawn + the slowest segment +
assembly (the polling delay aside: the last segment wakes the export). Times are this
process's CPU seconds (robust to a loaded machine; the emulator's share included),
each piece once. The emulator's
Scan walks the whole table for every page (DynamoDB reads only the page), so the
segments' figures here are a pessimistic bound.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.exports import _Plenty, _seed


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    """CPU seconds of this process: the emulator answers in this thread, so they are
    the work's (the store's share included) whatever else the machine runs."""
    began = time.process_time()
    out = work()
    return out, time.process_time() - began


def measure(n: int, segments: int) -> dict[str, Any]:
    from chalicelib.auth.users import service as users
    from chalicelib.core.principal import Principal
    from chalicelib.core.settings import reset_settings
    from chalicelib.exchange.exports.segments import child_id
    from chalicelib.jobs import engine, repo, service
    from devstack.emulator import provisioned

    with provisioned(f"benchfan{n}"):
        import app  # noqa: F401 - every declaration registered, as in Lambda
        import chalicelib.exchange.exports.kind  # noqa: F401 - the export kinds (lazy in app)

        owner = users.ensure_user("bench", "bench-password-long", "bench@example.com",
                                  ["admin"])
        admin = Principal(kind="user", id=owner, owner=owner, scopes=frozenset({"admin"}))
        _seed(n)
        params = {"entity": "products", "format": "csv", "fields": None, "filters": {},
                  "options": {}}

        def run(job_id: str, seq: int = 0) -> None:
            engine.handle(job_id, seq, _Plenty())

        os.environ["GATEHOUSE_EXPORT_FANOUT_ROWS"] = str(10 * n)  # serial
        reset_settings()
        serial = service.submit(admin, "export", "exp", params)
        _, serial_s = _timed(lambda: run(serial.id))
        done = repo.get(serial.id)
        assert done is not None and done.status == "completed" and \
            done.result is not None and "segments" not in done.result, done

        os.environ["GATEHOUSE_EXPORT_FANOUT_ROWS"] = str(max(1, n // 2))
        os.environ["GATEHOUSE_EXPORT_FANOUT_SEGMENTS"] = str(segments)
        reset_settings()
        fanned = service.submit(admin, "export", "exp", params)
        _, spawn_s = _timed(lambda: run(fanned.id))
        each = []
        for i in range(segments):
            _, took = _timed(lambda i=i: run(child_id(fanned.id, i)))  # type: ignore[misc]
            each.append(took)
        waiting = repo.get(fanned.id)
        assert waiting is not None
        _, assembly_s = _timed(lambda: run(fanned.id, waiting.seq))
        out = repo.get(fanned.id)
        assert out is not None and out.status == "completed" and out.result is not None, out
        assert out.processed_rows == n and out.result["segments"] == segments
        assert out.result["bytes"] == done.result["bytes"]  # the same rows, same bytes
        projected = spawn_s + max(each) + assembly_s
        return {
            "rows": n, "segments": segments, "bytes": out.result["bytes"],
            "serial": {"seconds": round(serial_s, 2), "rowsPerSecond": round(n / serial_s)},
            "fanout": {"spawnSeconds": round(spawn_s, 2),
                       "segmentSeconds": [round(s, 2) for s in each],
                       "assemblySeconds": round(assembly_s, 2),
                       "oneProcessSeconds": round(spawn_s + sum(each) + assembly_s, 2),
                       "projectedSeconds": round(projected, 2),
                       "projectedRowsPerSecond": round(n / projected),
                       "speedup": round(serial_s / projected, 2)}}


def run(n: int = 20_000, segments: int = 8) -> dict[str, Any]:
    from bench.harness import fake_credentials

    fake_credentials()
    return measure(n, segments)


def rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    s, f = result["serial"], result["fanout"]
    n, k = result["rows"], result["segments"]
    return [
        (f"serial CSV export, {n} products", f"{s['rowsPerSecond']} rows/s "
         f"({s['seconds']} CPU s)", "the baseline"),
        (f"fanned out over {k} segments", f"projected {f['projectedRowsPerSecond']} rows/s "
         f"({f['projectedSeconds']} s: spawn {f['spawnSeconds']} + slowest segment "
         f"{max(f['segmentSeconds'])} + assembly {f['assemblySeconds']}), "
         f"{f['speedup']}x", "report"),
        ("  the same work in one process", f"{f['oneProcessSeconds']} s", "report"),
    ]


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    args = [int(a) for a in sys.argv[1:]]
    result = run(*args)
    for name, value, goal in rows(result):
        print(f"{name:<36} {value:<72} {goal}")
    print(json.dumps(result, indent=2))
