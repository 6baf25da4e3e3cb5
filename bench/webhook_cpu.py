"""Our own CPU per webhook delivery against moto: this process's CPU over batches of 10
less what moto spends answering (timed in each thread around moto's botocore stub), and
a CPU-time profile per thread of the same batches, grouped by library and entry point."""

from __future__ import annotations

import cProfile
import os
import pstats
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.webhook_fixture import Fixture, deliver, delivered


class MotoCpu:
    """CPU seconds moto spends answering, summed over threads (its botocore stub runs in
    the calling thread)."""

    def __init__(self) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        self.seconds = 0.0
        self._lock = threading.Lock()
        self._cls = BotocoreStubber
        self._real = BotocoreStubber.__call__
        outer = self

        def timed(stub: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return outer._real(stub, *args, **kwargs)
            finally:
                spent = time.thread_time() - started
                with outer._lock:
                    outer.seconds += spent

        BotocoreStubber.__call__ = timed  # type: ignore[method-assign]

    def close(self) -> None:
        self._cls.__call__ = self._real  # type: ignore[method-assign]


_GROUPS = (("moto", ("/moto/",)), ("chalicelib", ("/chalicelib/",)),
           ("botocore/boto3", ("/botocore/", "/boto3/", "/s3transfer/")),
           ("httpx/httpcore/h11", ("/httpx/", "/httpcore/", "/h11/", "/anyio/")),
           ("powertools", ("/aws_lambda_powertools/",)),
           ("cryptography", ("/cryptography/",)), ("asyncio", ("/asyncio/",)))


_ENTRIES = {  # where a delivery's CPU goes, by entry point (cumulative, moto included)
    "botocore API calls": ("/botocore/client.py", "_make_api_call"),
    "  of which moto answering": ("/moto/core/botocore_stubber.py", "__call__"),
    "claim (attempt.prepare)": ("/delivery/attempt.py", "prepare"),
    "outcome (attempt.finish)": ("/delivery/attempt.py", "finish"),
    "HTTP attempt (transport.send)": ("/delivery/transport.py", "send"),
    "batch read (Batch._read)": ("/delivery/batch.py", "_read"),
}


def _group(filename: str) -> str:
    for name, marks in _GROUPS:
        if any(m in filename for m in marks):
            return name
    return "other (stdlib: json, threading, logging, ...)"


def profile(records: list[dict[str, Any]]) -> pstats.Stats:
    """The batches under a CPU-time cProfile per thread: the event loop's (this thread)
    and each DynamoDB step on the pool."""
    from chalicelib.webhooks.delivery import batch

    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    real_step = batch._step

    def step(fn: Callable[..., None], job: Any) -> bool:
        prof = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(prof)
        prof.enable()
        try:
            return real_step(fn, job)
        finally:
            prof.disable()

    batch._step = step  # type: ignore[assignment]
    main = cProfile.Profile(time.thread_time)
    try:
        main.enable()
        deliver(records)
    finally:
        main.disable()
        batch._step = real_step  # type: ignore[assignment]
    stats = pstats.Stats(main)
    for prof in profiles:
        stats.add(prof)
    return stats


def cpu_per_delivery(fx: Fixture, n: int = 200, n_profiled: int = 100) -> dict[str, Any]:
    records = fx.records(n)
    deliver(fx.records(20))  # warm: pools, imports, the keyring
    moto = MotoCpu()
    try:
        started = time.process_time()
        deliver(records)
        total = time.process_time() - started
    finally:
        moto.close()
    assert delivered(records) == n
    stats = profile(fx.records(n_profiled))
    by_group: Counter[str] = Counter()
    ours: list[tuple[float, str]] = []
    for (filename, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        by_group[_group(filename)] += own
        if _group(filename) != "moto":
            ours.append((own, f"{os.path.basename(filename)}:{line} {name}"))
    profiled = sum(by_group.values())
    top = sorted(ours, reverse=True)[:10]
    per = 1000 / n_profiled
    entries: dict[str, float] = {}
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        for label, (mark, fn) in _ENTRIES.items():
            if mark in filename and name == fn:
                entries[label] = max(entries.get(label, 0.0), row[3])
    return {
        "deliveries": n, "processCpuMs": round(total * 1000, 1),
        "motoCpuMs": round(moto.seconds * 1000, 1),
        "oursMsPerDelivery": round((total - moto.seconds) * 1000 / n, 3),
        "motoMsPerDelivery": round(moto.seconds * 1000 / n, 3),
        "profile": {"note": "CPU time under cProfile (inflated by it); shares per group",
                    "msPerDelivery": {g: round(s * per, 3)
                                      for g, s in by_group.most_common()},
                    "share": {g: round(s / profiled, 3) for g, s in by_group.most_common()},
                    "topOwnTimeOutsideMoto": [f"{round(s * per, 3)} ms  {where}"
                                              for s, where in top],
                    "cumulativeMsPerDelivery": {k: round(v * per, 3)
                                                for k, v in entries.items()}},
    }
