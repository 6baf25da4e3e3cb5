"""DynamoDB items of deliveries: the only module that knows their keys.

  DELIVERY#<id> / DELIVERY
  GSI1 = WEBHOOK#<webhookId>#DLV / <createdAt>#<id>     the webhook's deliveries, newest first
  GSI2 = DUE / <deadline>#<id>                           every unfinished delivery: by
         <deadline> somebody must have acted on it (watchdog.py sweeps what falls due)
  id ("dlv_" + a hash of event and webhook: an event fans out to a webhook once),
  webhookId, owner (the webhook's, as fan-out saw it), event, eventId, body (the JSON
  sent), status (STATUSES), targeted (a webhook.test: sent even while paused),
  attempts (the attempt log, newest last, bounded by keep_attempts), attemptCount (the
  slot: messages name it), cycleAttempt (attempts in the current cycle: a redelivery
  starts a new one), nextAttemptAt, claim + claimedAt (while delivering), heldSince
  (while its webhook is paused), reason (why it failed or was cancelled), personal
  (what erasing the event's subject rewrites), createdAt, updatedAt, deliveredAt,
  redeliveredAt, ttl (KEEP_DAYS from creation).

A delivery of an event that carries a person's data is linked to that person
(privacy.py: SUBJECT#... / DLV#<id>); this module registers the rewrite of its copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import Conflict
from chalicelib.events import privacy
from chalicelib.store import table as store
from chalicelib.webhooks.delivery.queue import SQS_MAX_DELAY

STATUSES = ("pending", "delivering", "delivered", "failed", "cancelled")
DUE = "DUE"
OFF_DUE = ("GSI2PK", "GSI2SK")  # removed when a delivery is over
LINK = "DLV#"  # the erasure link's prefix (privacy.py)
LOST_AFTER = 300  # an SQS-timed attempt this late means its message was lost
STUCK_AFTER = 300  # a claim older than this means the worker died mid-attempt
KEEP_ATTEMPTS = 50
KEEP_DAYS = 30  # a delivery and its attempt log, from its creation (redeliverable till then)
ATTEMPT_LOG_BYTES = 200_000  # with the payload, well under DynamoDB's 400 KB per item


def delivery_id(event_id: str, webhook_id: str) -> str:
    return "dlv_" + ids.sha256_hex(event_id + webhook_id)[:24]


def key(did: str) -> tuple[str, str]:
    return f"DELIVERY#{did}", "DELIVERY"


def _webhook_pk(webhook_id: str) -> str:
    return f"WEBHOOK#{webhook_id}#DLV"


def due_at(at: float, did: str) -> dict[str, str]:
    """The attributes that put the delivery on the DUE index with deadline `at`."""
    return {"GSI2PK": DUE, "GSI2SK": f"{clock.iso(at)}#{did}"}


def epoch(value: Any) -> float:
    """A stored time (RFC 3339, or epoch seconds) as epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    return clock.parse_iso(str(value))


def new_item(event: dict[str, Any], hook: dict[str, Any], body: str) -> dict[str, Any]:
    now = clock.now()
    did = delivery_id(event["id"], hook["id"])
    pk, sk = key(did)
    created = clock.iso(now)
    return {
        "PK": pk, "SK": sk, "GSI1PK": _webhook_pk(hook["id"]), "GSI1SK": f"{created}#{did}",
        # On the DUE index from birth: if the message never reaches the queue, the
        # sweeper sends it.
        **due_at(now + LOST_AFTER, did),
        "id": did, "webhookId": hook["id"], "owner": hook.get("owner", ""),
        "event": event["event"], "eventId": event["id"], "body": body, "status": "pending",
        "targeted": bool(event.get("webhookId")),  # webhook.test: sent even while paused
        "attempts": [], "attemptCount": 0, "cycleAttempt": 0, "nextAttemptAt": created,
        "createdAt": created, "updatedAt": created, "ttl": int(now) + KEEP_DAYS * 86400,
        **({"personal": event.get("personal") or {}} if event.get("subject") else {}),
    }


def create(item: dict[str, Any], subject: str | None) -> bool:
    """Writes a new delivery; False if it exists already (an event fanned out again).
    The link to the event's subject goes first: erasure must find every copy."""
    if subject:
        store.put(privacy.link_item(subject, LINK + item["id"], item["ttl"]))
    try:
        store.put_new(item)
    except Conflict:
        return False
    return True


def get(did: str) -> dict[str, Any] | None:
    return store.get(*key(did), consistent=True)


def batch_get(dids: list[str]) -> dict[str, dict[str, Any]]:
    """Deliveries by id, consistent, in BatchGetItem calls."""
    return {i["id"]: i for i in store.batch_get([key(d) for d in dids], True).values()}


def update(did: str, changes: dict[str, Any], *, remove: Iterable[str] = (),
           condition: str = "attribute_exists(PK)",
           values: dict[str, Any] | None = None, append: dict[str, list[Any]] | None = None,
           returns: bool = False) -> dict[str, Any] | None:
    """store.update on one delivery: None when the condition failed, else {} (or the new
    item with `returns`: most callers know the new state, and an item can hold 200 KB of
    attempt log). Conditions may use #status (a reserved word) and name their values
    without the colon."""
    return store.update(*key(did), changes, remove=tuple(remove), condition=condition,
                        values={f":{k}": v for k, v in (values or {}).items()},
                        names={"#status": "status"} if "#status" in condition else None,
                        append=append, returns=returns)


def schedule_at(item: dict[str, Any], at: float) -> tuple[dict[str, Any], float | None]:
    """The attributes that put a pending delivery's next attempt at `at`, and the SQS
    delay to send now (None: the DUE sweep will send it)."""
    delay = at - clock.now()
    changes = {"status": "pending", "nextAttemptAt": clock.iso(at)}
    if delay <= SQS_MAX_DELAY:
        return {**changes, **due_at(at + LOST_AFTER, item["id"])}, max(0.0, delay)
    return {**changes, **due_at(at, item["id"])}, None


def cancel(item: dict[str, Any], reason: str, seq: int | None = None) -> bool:
    cond = "#status IN (:p, :d)"
    values: dict[str, Any] = {"p": "pending", "d": "delivering"}
    if seq is not None:
        cond, values = "#status = :p AND attemptCount = :seq", {"p": "pending", "seq": seq}
    return update(item["id"], {"status": "cancelled", "nextAttemptAt": None, "reason": reason,
                               "updatedAt": clock.iso()},
                  remove=(*OFF_DUE, "claim"), condition=cond, values=values) is not None


def keep_attempts(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest attempts that fit the log's count and size bounds (an item over 400 KB
    could never be written again, and its delivery would be stuck)."""
    kept: list[dict[str, Any]] = []
    size = 0
    for att in reversed(attempts[-KEEP_ATTEMPTS:]):
        size += len(json.dumps(att, default=str))
        if kept and size > ATTEMPT_LOG_BYTES:
            break
        kept.append(att)
    return kept[::-1]


# -- listings ------------------------------------------------------------------------

def page_of(webhook_id: str, cursor: str | None, limit: int,
            item_filter: Callable[[dict[str, Any]], bool] | None = None
            ) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the webhook's deliveries, newest first."""
    return store.query_page(_webhook_pk(webhook_id), index="GSI1", cursor=cursor,
                            limit=limit, item_filter=item_filter)


def created_between(webhook_id: str, since: str, until: str,
                    item_filter: Callable[[dict[str, Any]], bool]) -> Iterator[dict[str, Any]]:
    return store.query_all(_webhook_pk(webhook_id), index="GSI1",
                           sk_between=(since, until + "~"), item_filter=item_filter)


def newest(webhook_id: str, limit: int) -> list[dict[str, Any]]:
    return list(store.query_all(_webhook_pk(webhook_id), index="GSI1", max_items=limit))


def due_by(at: float, limit: int) -> list[dict[str, Any]]:
    """Unfinished deliveries whose DUE deadline is at or before `at`, oldest first."""
    return list(store.query_all(DUE, index="GSI2", forward=True, max_items=limit,
                                sk_between=("0", clock.iso(at) + "~")))


# -- erasure ---------------------------------------------------------------------------

def _erase(did: str) -> int:
    """The delivery's payload with its subject's personal fields rewritten (the
    receivers' answers in the attempt log are theirs, and stay)."""
    item = get(did)
    if item is None:
        return 0
    body = json.loads(item.get("body") or "{}")
    body["data"] = privacy.scrub(body.get("data"), item.get("personal") or {})
    store.update(*key(did), {"body": json.dumps(body, separators=(",", ":"))})
    return 1


privacy.register(LINK, _erase)
