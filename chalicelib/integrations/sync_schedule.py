"""Scheduled syncs: the minute's tick starts the sync of each active connection whose
config has `schedule.everyMinutes` and whose last run started at least that long ago
(none running).

The tick reads the connections' listing (every connection, MAX_READ a minute at most,
filtered to the scheduled ones as it reads): simple, and cheap while connections number
in the thousands; a due index, as export schedules keep, is the step beyond that.

A scheduled run is the principal's that last set the connection's config or credentials
(`ceilingBy`): the job carries the connection's owner, namespace and ceiling scopes (that
principal's), and the engine checks them within the owner's current scopes at every
invocation. A connection whose ceiling lacks the resource's write scope, or whose
ceiling's principal has ended (an API key revoked, expired or deleted; an OAuth client
deleted or disabled), is skipped (and counted). Two ticks racing both try; the sync's
claim lets one start it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import AppError
from chalicelib.core.principal import Principal
from chalicelib.integrations import repo, sync_service, sync_store

MAX_READ = 2000   # connections read a minute


def _scheduled(item: dict[str, Any]) -> bool:
    schedule = (item.get("config") or {}).get("schedule")
    return bool(schedule) and item.get("status", "active") == "active"


def _due(item: dict[str, Any], now: int) -> bool:
    every = int(((item.get("config") or {}).get("schedule") or {}).get("everyMinutes") or 0)
    if every <= 0:
        return False
    latest = sync_store.latest(str(item["id"]))
    last = int((latest or {}).get("claimedAt", 0))
    return now >= last + every * 60


def _key_gone(principal: Principal) -> bool:
    """Whether the credential the connection runs as has ended (an API key revoked,
    expired or deleted; an OAuth client deleted or disabled): what it set up ends
    with it."""
    from chalicelib.auth.owners import ended

    return ended(principal.describe()) is not None


def _principal(item: dict[str, Any]) -> Principal:
    """Whose ceiling it is: the principal that last set its config or credentials."""
    ref = item.get("ceilingBy") or item.get("createdBy") or "user:"
    kind, _, ident = str(ref).partition(":")
    return Principal(kind=kind, id=ident, owner=str(item["owner"]),
                     scopes=frozenset(item.get("scopes") or ()),
                     sandbox=bool(item.get("sandbox")))


def run_due() -> dict[str, int]:
    """Starts what is due; answers how many of each outcome (started, running, skipped,
    error). A failure is logged: the next minute tries again."""
    from chalicelib.core.logging import get_logger

    try:
        return dict(_run_due())
    except Exception:  # noqa: BLE001 - the minute's other steps must not fail with it
        get_logger().exception("sync schedules' tick failed")
        return {"error": 1}


def _run_due() -> Counter[str]:
    from chalicelib.core.logging import get_logger

    out: Counter[str] = Counter()
    now = clock.now_int()
    cursor: str | None = None
    read = 0
    while read < MAX_READ:
        items, cursor = repo.listing(None, cursor=cursor, limit=100, item_filter=_scheduled)
        read += 100
        for item in items:
            if not _due(item, now):
                continue
            actor = _principal(item)
            if _key_gone(actor):
                out["skipped"] += 1
                continue
            try:
                sync_service.start(actor, str(item["id"]))
                out["started"] += 1
            except AppError as exc:
                # 409: running (or another tick won); 403: the ceiling lacks the write
                # scope; 422: the config no longer valid.
                out["running" if exc.status == 409 else "skipped"] += 1
                if exc.status != 409:
                    get_logger().warning("scheduled sync not started", extra={
                        "integrationId": item["id"], "reason": exc.code})
        if not cursor:
            break
    return out
