"""DynamoDB items of inbound callbacks: one per (connection, gateway event id), both the
duplicate marker and the connection's inbound log entry. The only module that knows
their keys.

Inbound event
  PK = INTEGRATION#<connection id>#INBOUND#<event id>, SK = INBOUND
  GSI1PK = INTEGRATION#<connection id>#INBOUND, GSI1SK = <receivedAt>#<event id>
  connectionId, eventId, eventType, outcome, reason?, orderId?, amount? (cents),
  status?, paymentId?, sandbox, receivedAt, ttl (receivedAt + 30 days)

outcome: recorded (a payment was written, in the same transaction as this item) |
ignored (a type not handled) | rejected (cannot apply: unknown or cancelled order,
over the balance, wrong currency) | refused (the owner lacks orders:write now). The
first three are final: a later delivery of the event is a duplicate. `refused` is not:
the gateway retries, and a retry after the owner regains the right records it.

One key per event spreads a busy gateway's writes over partitions; the log reads GSI1.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.store import table as store

SK = "INBOUND"
FINAL = ("recorded", "ignored", "rejected")
KEEP_DAYS = 30  # longer than any gateway retries (Stripe: 3 days)


def pk(connection_id: str, event_id: str) -> str:
    return f"INTEGRATION#{connection_id}#INBOUND#{event_id}"


def _log_pk(connection_id: str) -> str:
    return f"INTEGRATION#{connection_id}#INBOUND"


def new_item(connection_id: str, event_id: str, outcome: str, *, sandbox: bool,
             event_type: str = "", **fields: Any) -> dict[str, Any]:
    now = clock.now()
    stamp = clock.iso(now)
    item: dict[str, Any] = {
        "PK": pk(connection_id, event_id), "SK": SK,
        "GSI1PK": _log_pk(connection_id), "GSI1SK": f"{stamp}#{event_id}",
        "connectionId": connection_id, "eventId": event_id, "eventType": event_type,
        "outcome": outcome, "sandbox": sandbox, "receivedAt": stamp,
        "ttl": int(now) + KEEP_DAYS * 86400}
    item.update({k: v for k, v in fields.items() if v not in (None, "")})
    return item


def _condition() -> dict[str, Any]:
    """Written only over nothing, an expired item (TTL deletes lazily) or a `refused`
    one: a final outcome is never overwritten."""
    return {"ConditionExpression": "attribute_not_exists(PK) OR #o = :refused OR #t <= :now",
            "ExpressionAttributeNames": {"#o": "outcome", "#t": "ttl"},
            "ExpressionAttributeValues": {":refused": "refused", ":now": clock.now_int()}}


def put_op(item: dict[str, Any]) -> dict[str, Any]:
    """The item as an op of the payment's own transaction."""
    return {"Put": {"Item": item, **_condition()},
            "_message": "This event was already received."}


def put(item: dict[str, Any]) -> bool:
    """Writes the item unless a final one is there; False: it is (a duplicate)."""
    return store.put_if(item, _condition())


def get(connection_id: str, event_id: str) -> dict[str, Any] | None:
    return store.get(pk(connection_id, event_id), SK, consistent=True)


def final(connection_id: str, event_id: str) -> dict[str, Any] | None:
    """The event's item if its outcome is final (a delivery of it now is a duplicate)."""
    item = get(connection_id, event_id)
    return item if item and item.get("outcome") in FINAL else None


def present(item: dict[str, Any]) -> dict[str, Any]:
    shown = ("eventId", "eventType", "outcome", "reason", "orderId", "status", "paymentId",
             "receivedAt")
    out: dict[str, Any] = {k: item[k] for k in shown if k in item}
    if "amount" in item:
        cents = int(item["amount"])
        out["amount"] = f"{cents // 100}.{cents % 100:02d}"
    return out


def page(connection_id: str, *, cursor: str | None, limit: int
         ) -> tuple[list[dict[str, Any]], str | None]:
    """The connection's inbound events, newest first, presented. (GET .../logs may merge
    these with its own entries.)"""
    items, next_cursor = store.query_page(_log_pk(connection_id), index="GSI1", cursor=cursor,
                                          limit=limit)
    return [present(i) for i in items], next_cursor
