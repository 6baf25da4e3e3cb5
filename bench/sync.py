"""Syncs: a REST integration pulling N products (default 5,000) from a local paginated
ERP (tests/erp_server.py over real HTTP on 127.0.0.1, pages of 100 by cursor) into an
empty store, then again with nothing changed, on the local stack's emulator (moto with
devstack's patches, answered in-process).

    python -m bench.sync [records ...]

What is timed: the sync job from its claim to its completed status, run by the engine
with ample Lambda time: the pulls, mapping and the create model's checks, the
natural-key lookups, each record's read and, for the first run, the creates (several to
a transaction, each with its uniqueness item, audit entry and event; the page's events
published together), the log entries and checkpoints. The events queue is emptied after each
publication as the local poller keeps it (bench/imports.py says why). The goal: the
second run writes nothing (0 creates, 0 updates).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

GOAL = "records/s of a first sync (report); a second run with no changes writes 0 records"


def _counted() -> tuple[dict[str, int], Any]:
    """Counts the resource service's creates and updates; answers (counts, undo)."""
    from chalicelib.resources import service

    counts = {"create": 0, "update": 0}
    real: dict[str, Any] = {"create": service.create, "update": service.update,
                            "create_many": service.create_many}

    def wrap(name: str) -> Any:
        def call(*args: Any, **kw: Any) -> Any:
            counts[name] += 1
            return real[name](*args, **kw)
        return call

    def many(res: Any, actor: Any, prepared: list[Any]) -> Any:
        counts["create"] += len(prepared)
        return real["create_many"](res, actor, prepared)

    service.create, service.update = wrap("create"), wrap("update")
    service.create_many = many

    def undo() -> None:
        service.create, service.update = real["create"], real["update"]
        service.create_many = real["create_many"]

    return counts, undo


def _run(actor: Any, conn_id: str) -> tuple[float, dict[str, Any]]:
    from bench.imports import _Plenty
    from chalicelib.integrations import sync_service
    from chalicelib.jobs import engine, repo

    began = time.perf_counter()
    _conn, job = sync_service.start(actor, conn_id)
    engine.handle(job.id, 0, _Plenty())
    took = time.perf_counter() - began
    done = repo.get(job.id)
    assert done is not None and done.status == "completed", done
    return took, dict(done.result or {})


def measure(n: int) -> dict[str, Any]:
    from bench.imports import _split
    from chalicelib.auth.users import service as users
    from chalicelib.core.principal import Principal
    from chalicelib.core.settings import reset_settings
    from chalicelib.integrations import service as integrations
    from chalicelib.integrations.models import CreateConnection
    from devstack.emulator import provisioned
    from tests.erp_server import Erp

    os.environ["GATEHOUSE_WEBHOOK_ALLOWED_HOSTS"] = "127.0.0.1"
    reset_settings()
    with provisioned(f"benchsync{n}"), Erp(n, page_size=100) as erp:
        import app  # noqa: F401 - every kind and declaration registered, as in Lambda
        from chalicelib.auth.bootstrap import bootstrap

        bootstrap({"GATEHOUSE_ADMIN_CLIENT_SECRET": "bench-admin-secret",  # the keyring
                   "GATEHOUSE_ADMIN_PASSWORD": "bench-admin-password"})
        owner = users.ensure_user("bench", "bench-password-long", "bench@example.com",
                                  ["admin"])
        admin = Principal(kind="user", id=owner, owner=owner, scopes=frozenset({"admin"}))
        conn = integrations.create(admin, CreateConnection(
            type="erp", name="bench", credentials={"auth": "none"}, config={
                "baseUrl": erp.url + "/api", "pull": {
                    "path": "/items", "pagination": "cursor", "cursorField": "meta.next",
                    "itemsField": "data.items", "query": {"limit": "100"}}}))
        counts, undo = _counted()
        try:
            with _split() as spent:
                first_s, first = _run(admin, conn["id"])
                first_writes, first_spent = dict(counts), dict(spent)
                counts.update(create=0, update=0)
                pages = len(erp.requests)
                second_s, second = _run(admin, conn["id"])
        finally:
            undo()
        assert first["created"] == n and first["consistency"]["consistent"], first
        return {
            "records": n, "pages": pages,
            "first": {"seconds": round(first_s, 2), "recordsPerSecond": round(n / first_s),
                      "creates": first_writes["create"],
                      "transactSeconds": round(first_spent["transact"], 2),
                      "publishSeconds": round(first_spent["publish"], 2)},
            "second": {"seconds": round(second_s, 2), "recordsPerSecond": round(n / second_s),
                       "creates": counts["create"], "updates": counts["update"],
                       "skipped": second["skipped"], "logEntries": second["logEntries"],
                       "consistent": second["consistency"]["consistent"]}}


def run(sizes: tuple[int, ...] = (5_000,)) -> dict[str, Any]:
    from bench.harness import fake_credentials

    fake_credentials()
    return {"goal": GOAL, "sizes": {str(n): measure(n) for n in sizes}}


def rows(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for n, fig in result["sizes"].items():
        first, second = fig["first"], fig["second"]
        out.append((f"sync from a local ERP, {n} records", f"{first['recordsPerSecond']} "
                    f"records/s ({fig['pages']} pages, {first['creates']} creates)", "report"))
        out.append(("  second run, nothing changed", f"{second['recordsPerSecond']} records/s,"
                    f" {second['creates'] + second['updates']} writes",
                    "0 writes"))
    return out


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)
    sizes = tuple(int(a) for a in sys.argv[1:]) or (5_000,)
    print(json.dumps(run(sizes), indent=2))
