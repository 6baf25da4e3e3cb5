"""The minute sweep over the DUE index (repo.py): deliveries whose long wait ends before
the next sweep are sent with their remaining delay; pending ones whose message was lost
are sent again; claims older than STUCK_AFTER (the worker died mid-attempt) count as a
lost attempt, then retry or fail. Nothing stays pending or delivering for ever."""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.webhooks import service
from chalicelib.webhooks.delivery import queue, repo
from chalicelib.webhooks.delivery.queue import Message, message
from chalicelib.webhooks.delivery.retry import max_attempts

SWEEP_AHEAD = 75  # the sweep runs every minute: enqueue what falls due before the next one


def sweep_due(limit: int = 1000) -> dict[str, int]:
    now = clock.now()
    counts = {"due": 0, "stuck": 0, "failed": 0}
    send: list[Message] = []
    for item in repo.due_by(now + SWEEP_AHEAD, limit):
        status, seq = item.get("status"), int(item.get("attemptCount", 0))
        if status == "pending":
            at = repo.epoch(item.get("nextAttemptAt") or clock.iso(now))
            moved = repo.update(item["id"], repo.due_at(max(at, now) + repo.LOST_AFTER,
                                                         item["id"]),
                                condition="#status = :p AND attemptCount = :seq",
                                values={"p": "pending", "seq": seq})
            if moved is not None:
                send.append(message(item, seq, max(0.0, at - now)))
                counts["due"] += 1
        elif status == "delivering":
            if repo.epoch(item.get("claimedAt") or clock.iso(now)) > now - repo.STUCK_AFTER:
                continue
            counts[_unstick(item, now)] += 1
        else:  # a terminal item with a stale index entry
            repo.update(item["id"], {}, remove=repo.OFF_DUE)
    queue.enqueue(send)
    return counts


def _unstick(item: dict[str, Any], now: float) -> str:
    """A worker died mid-attempt: the attempt counts (logged as lost); retry or fail."""
    hook = service.get_webhook(item["webhookId"]) or {}
    entry: dict[str, Any] = {"attempt": int(item["attemptCount"]), "at": item.get("claimedAt"),
                             "status": None, "durationMs": None, "requestHeaders": {},
                             "responseBody": "",
                             "error": "attempt lost (worker stopped); outcome unknown"}
    attempts = repo.keep_attempts([*item.get("attempts", []), entry])
    cond, values = "claim = :c", {"c": item.get("claim")}
    if int(item.get("cycleAttempt", 1)) >= max_attempts(hook):
        repo.update(item["id"], {"status": "failed", "nextAttemptAt": None,
                                 "attempts": attempts, "reason": "no attempt succeeded",
                                 "updatedAt": clock.iso(now)},
                    remove=(*repo.OFF_DUE, "claim"), condition=cond, values=values)
        return "failed"
    sched, _ = repo.schedule_at(item, now)
    sched.update({"attempts": attempts, "updatedAt": clock.iso(now)})
    if repo.update(item["id"], sched, remove=("claim",), condition=cond,
                   values=values) is not None:
        queue.enqueue([message(item, int(item["attemptCount"]))])
    return "stuck"
