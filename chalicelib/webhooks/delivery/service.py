"""The delivery log's operations (routes.py is its API): a webhook's deliveries as the
API shows them, redelivery, recovery of a time window, and statistics. Who may see an
event's data, and whether it may be sent again, the caller decides (`readable`,
`sendable`: see routes.py)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from chalicelib.core import clock
from chalicelib.events.catalog import read_scope
from chalicelib.webhooks.delivery import queue, repo

STATS_WINDOW = 1000  # the newest deliveries the statistics cover


def public(item: dict[str, Any], readable: bool, with_payload: bool = False
           ) -> dict[str, Any]:
    """The API's view. Not `readable` (the event type's read scope is missing, see
    routes.py): no payload `data` and no receiver answers (which may echo it)."""
    out = {k: item.get(k) for k in ("id", "webhookId", "event", "eventId", "status",
                                    "attemptCount", "nextAttemptAt", "createdAt",
                                    "updatedAt")}
    out["requiredScope"] = read_scope(str(item.get("event")))
    attempts = item.get("attempts", [])
    out["attempts"] = attempts if readable else [
        {**a, "responseBody": None} for a in attempts]
    if not readable:
        out["dataOmitted"] = True
    if item.get("reason"):
        out["reason"] = item["reason"]
    if with_payload:
        try:
            payload = json.loads(item.get("body") or "null")
        except ValueError:
            payload = None
        if not readable and isinstance(payload, dict):
            payload.pop("data", None)
        out["payload"] = payload
    return out


def find(webhook_id: str, delivery_id: str) -> dict[str, Any] | None:
    """The webhook's delivery, or None (another webhook's is not there)."""
    item = repo.get(delivery_id) if delivery_id.startswith("dlv_") else None
    return item if item is not None and item.get("webhookId") == webhook_id else None


def list_for(webhook_id: str, statuses: set[str] | None, cursor: str | None,
             per_page: int, readable: Callable[[str], bool]
             ) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the webhook's deliveries; `readable(event type)` says whose data shows."""
    items, nxt = repo.page_of(
        webhook_id, cursor, per_page,
        (lambda i: i.get("status") in statuses) if statuses else None)
    return [public(i, readable(str(i.get("event")))) for i in items], nxt


def redeliver(item: dict[str, Any]) -> dict[str, Any] | None:
    """A new attempt cycle now (the attempt history is kept); None if an attempt is
    running or the delivery changed meanwhile."""
    now = clock.now()
    seq = int(item.get("attemptCount", 0))
    sched, _ = repo.schedule_at(item, now)
    sched.update({"cycleAttempt": 0, "updatedAt": clock.iso(now), "redeliveredAt":
                  clock.iso(now)})
    done = repo.update(item["id"], sched, remove=("reason", "heldSince"), returns=True,
                       condition="#status <> :d AND attemptCount = :seq",
                       values={"d": "delivering", "seq": seq})
    if done is not None:
        queue.enqueue([queue.message(item, seq)])
    return done


def recover(webhook_id: str, since: str, until: str,
            sendable: Callable[[str], bool]) -> int:
    """Every failed delivery created in [since, until] whose event type is
    `sendable` gets a new cycle."""
    failed = repo.created_between(webhook_id, since, until,
                                  lambda i: i.get("status") == "failed"
                                  and sendable(str(i.get("event"))))
    return sum(1 for item in failed if redeliver(item) is not None)


def stats(webhook_id: str, limit: int = STATS_WINDOW) -> dict[str, Any]:
    """Over the newest `limit` deliveries: outcomes, attempts, latency percentiles."""
    items = repo.newest(webhook_id, limit)
    by_status = {s: 0 for s in repo.STATUSES}
    latencies: list[int] = []
    attempts = ok_attempts = 0
    for item in items:
        status_of = str(item.get("status", "pending"))
        by_status[status_of] = by_status.get(status_of, 0) + 1
        for att in item.get("attempts", []):
            attempts += 1
            status = att.get("status")
            if isinstance(status, int) and 200 <= status < 300:
                ok_attempts += 1
            if isinstance(att.get("durationMs"), int):
                latencies.append(att["durationMs"])
    finished = by_status["delivered"] + by_status["failed"]
    latencies.sort()
    return {
        "webhookId": webhook_id, "deliveries": len(items), "byStatus": by_status,
        "successRate": round(by_status["delivered"] / finished, 4) if finished else None,
        "attempts": attempts,
        "attemptSuccessRate": round(ok_attempts / attempts, 4) if attempts else None,
        "latencyMs": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                      "p99": percentile(latencies, 99)},
        "window": {"newest": items[0]["createdAt"] if items else None,
                   "oldest": items[-1]["createdAt"] if items else None},
    }


def percentile(sorted_values: list[int], pct: float) -> int | None:
    if not sorted_values:
        return None
    rank = max(0, math.ceil(pct / 100 * len(sorted_values)) - 1)
    return sorted_values[rank]
