"""DynamoDB items of event pushes: one per (connection, event), both the marker that
makes a push idempotent and the connection's push log entry. The only module that
knows their keys.

Push
  PK = INTEGRATION#<connection id>#PUSH#<event id>, SK = PUSH
  GSI1PK = INTEGRATION#<connection id>#PUSH, GSI1SK = <createdAt>#<event id>
  GSI2PK = PUSHPENDING, GSI2SK = <createdAt>#<connection id>#<event id>   while pending
      only (sparse: removed with the final status), so the minute's sweep finds pushes
      stuck pending (their message gone to the dead-letter queue) without a scan
  connectionId, eventId, eventType, sandbox, status, attempts (tries begun),
  createdAt, lastAttemptAt, dueAt (epoch seconds: not tried again before),
  claimedUntil (epoch seconds: an attempt under way), lastError, reason (why dropped),
  result ({status} of the HTTP answer, {bucket, key} of the object), finishedAt,
  ttl (createdAt + KEEP_DAYS)

status: pending (to be tried, or tried and due again) | delivered | failed (given up
after the attempts allowed, or a failure no retry mends) | dropped (not to be sent: the
connection is gone, paused or unsubscribed, its owner or whoever set it up has ended or
lost the read scope, its credentials are no longer usable). Only pending changes.

One key per event spreads a busy connection's writes over partitions; the log reads
GSI1 (as inbound_log.py's entries).
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.store import table as store

SK = "PUSH"
PENDING = "PUSHPENDING"
KEEP_DAYS = 30
FINAL = ("delivered", "failed", "dropped")


def pk(connection_id: str, event_id: str) -> str:
    return f"INTEGRATION#{connection_id}#PUSH#{event_id}"


def _log_pk(connection_id: str) -> str:
    return f"INTEGRATION#{connection_id}#PUSH"


def new_item(connection_id: str, event: dict[str, Any]) -> dict[str, Any]:
    now = clock.now()
    stamp = clock.iso(now)
    event_id = str(event["id"])
    return {"PK": pk(connection_id, event_id), "SK": SK,
            "GSI1PK": _log_pk(connection_id), "GSI1SK": f"{stamp}#{event_id}",
            "GSI2PK": PENDING, "GSI2SK": f"{stamp}#{connection_id}#{event_id}",
            "connectionId": connection_id, "eventId": event_id,
            "eventType": str(event["event"]), "sandbox": bool(event.get("sandbox")),
            "status": "pending", "attempts": 0, "createdAt": stamp,
            "ttl": int(now) + KEEP_DAYS * 86400}


def create(item: dict[str, Any]) -> bool:
    """Writes the push unless it exists (an event fanned out again); False: it does."""
    return store.put_if(item)


def get(connection_id: str, event_id: str) -> dict[str, Any] | None:
    return store.get(pk(connection_id, event_id), SK, consistent=True)


_DUE = ("#s = :pending AND (attribute_not_exists(dueAt) OR dueAt <= :now) AND "
        "(attribute_not_exists(claimedUntil) OR claimedUntil <= :now)")


def claim(connection_id: str, event_id: str, lease: int) -> dict[str, Any] | None:
    """Begins an attempt: the push, with `attempts` counting it, if it is pending, due
    and nobody's attempt is under way (for `lease` seconds from now); None otherwise
    (the caller reads why)."""
    from botocore.exceptions import ClientError

    now = clock.now_int()
    try:
        resp = store.table().update_item(
            Key={"PK": pk(connection_id, event_id), "SK": SK},
            UpdateExpression="SET claimedUntil = :lease, lastAttemptAt = :at ADD #a :one",
            ConditionExpression=_DUE, ReturnValues="ALL_NEW",
            ExpressionAttributeNames={"#s": "status", "#a": "attempts"},
            ExpressionAttributeValues={":pending": "pending", ":now": now, ":one": 1,
                                       ":lease": now + lease, ":at": clock.iso()})
    except ClientError as exc:
        if store.is_condition_failure(exc):
            return None
        raise
    return dict(store.plain(resp["Attributes"]))


def later(connection_id: str, event_id: str, due: int, error: str) -> None:
    """The attempt failed; the next may begin at `due` (epoch seconds)."""
    store.update(pk(connection_id, event_id), SK, {"dueAt": due, "lastError": error},
                 remove=("claimedUntil",), returns=False)


def finish(connection_id: str, event_id: str, status: str, **fields: Any) -> None:
    """A final status (delivered, failed, dropped) with what to show of it."""
    assert status in FINAL
    changes = {"status": status, "finishedAt": clock.iso(),
               **{k: v for k, v in fields.items() if v is not None}}
    store.update(pk(connection_id, event_id), SK, changes,
                 remove=("claimedUntil", "dueAt", "GSI2PK", "GSI2SK"), returns=False)


def stuck(before: str, limit: int) -> list[tuple[str, str]]:
    """(connection id, event id) of pushes pending since before `before` (ISO), oldest
    first, read from the pending index (it may lag: give_up checks the item itself)."""
    items, _ = store.query_page(PENDING, index="GSI2", sk_between=("0", before),
                                forward=True, limit=limit)
    out = []
    for item in items:
        _stamp, connection_id, event_id = str(item["GSI2SK"]).split("#", 2)
        out.append((connection_id, event_id))
    return out


def give_up(connection_id: str, event_id: str, error: str) -> dict[str, Any] | None:
    """A push still pending, and no attempt under way, becomes failed with `error`: the
    push as written; None: it was not (finished meanwhile, or being tried)."""
    now = clock.now_int()
    done = store.update(
        pk(connection_id, event_id), SK,
        {"status": "failed", "finishedAt": clock.iso(), "lastError": error},
        remove=("claimedUntil", "dueAt", "GSI2PK", "GSI2SK"),
        condition="#s = :pending AND (attribute_not_exists(claimedUntil) OR "
                  "claimedUntil <= :now)",
        names={"#s": "status"}, values={":pending": "pending", ":now": now})
    return done


def present(item: dict[str, Any]) -> dict[str, Any]:
    shown = ("eventId", "eventType", "status", "attempts", "createdAt", "lastAttemptAt",
             "finishedAt", "lastError", "reason", "result")
    out = {k: item[k] for k in shown if k in item}
    if item.get("status") == "pending" and item.get("dueAt"):
        out["nextAttemptAt"] = clock.iso(float(item["dueAt"]))
    return out


def page(connection_id: str, *, cursor: str | None, limit: int, status: str | None = None
         ) -> tuple[list[dict[str, Any]], str | None]:
    """The connection's pushes, newest first, presented."""
    keep = None if status is None else (lambda item: item.get("status") == status)
    items, following = store.query_page(_log_pk(connection_id), index="GSI1", cursor=cursor,
                                        limit=limit, item_filter=keep)
    return [present(i) for i in items], following
