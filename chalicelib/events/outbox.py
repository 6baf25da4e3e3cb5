"""The outbox: a change and the events it raises are written in one DynamoDB transaction,
so an event can never be lost between the write and the queue.

  OUTBOX#<event id> / EVENT   the event; while not yet on the queue it is also in
                              GSI2 = OUTBOX#PENDING / <timestamp>#<id>
After the transaction commits, the writer sends the events to the `events` queue and
clears the pending mark. If it dies in between, the sweeper (a scheduled handler, every
minute) sends whatever has been pending for more than SWEEP_AFTER seconds. Sending twice
is harmless: fan-out derives delivery ids from (event, webhook) and creates them with a
conditional put.

An event that carries a person's data is linked to them (privacy.py: SUBJECT#... /
EVT#<event id>); this module registers the rewrite of its copy, the origin of every
delivery's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from chalicelib.core import aws, clock, ids
from chalicelib.events import privacy
from chalicelib.store import table as store

PENDING = "OUTBOX#PENDING"
LINK = "EVT#"  # the erasure link's prefix (privacy.py)
SWEEP_AFTER = 30
KEEP_DAYS = 7


def new_event(event_type: str, data: dict[str, Any], *, owner: str = "",
              sandbox: bool = False, webhook_id: str = "", subject: str = "",
              personal: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event as integrators receive it, plus routing fields that fan-out reads and
    strips: owner, sandbox, target webhook, and the person whose data it carries
    (`subject`, with what erasing them rewrites: see privacy.py)."""
    event = {"id": ids.new_id("evt"), "event": event_type, "timestamp": clock.iso(),
             "data": data, "owner": owner, "sandbox": sandbox, "webhookId": webhook_id}
    if subject:
        event.update(subject=subject, personal=personal or {})
    return event


def public_body(event: dict[str, Any]) -> dict[str, Any]:
    return {k: event[k] for k in ("id", "event", "timestamp", "data")}


def _key(event_id: str) -> tuple[str, str]:
    return f"OUTBOX#{event_id}", "EVENT"


def outbox_puts(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event's item, and its link to the person whose data it carries."""
    ttl = clock.now_int() + KEEP_DAYS * 86400
    pk, sk = _key(event["id"])
    puts = [{"Put": {"Item": {
        "PK": pk, "SK": sk, "GSI2PK": PENDING,
        "GSI2SK": f"{event['timestamp']}#{event['id']}", "event": json.dumps(event),
        "ttl": ttl}}}]
    if event.get("subject"):
        puts.append({"Put": {"Item": privacy.link_item(event["subject"], LINK + event["id"],
                                                       ttl)}})
    return puts


def current(event: dict[str, Any]) -> dict[str, Any]:
    """The event as its outbox item holds it now (erasure may have rewritten it since
    the message was sent)."""
    item = store.get(*_key(event["id"]), consistent=True)
    return json.loads(item["event"]) if item else event


# Events committed inside `deferred()`, published together when it ends.
_held: ContextVar[list[dict[str, Any]] | None] = ContextVar("outbox_held", default=None)


@contextmanager
def deferred() -> Iterator[None]:
    """Within it, committed events are held and published together at its end (in
    batches of 10 per SQS call), not one send per transaction: for a bulk writer (an
    import's chunk). They are committed (pending) already, so a crash before the end
    loses none: the sweeper sends them."""
    if _held.get() is not None:   # nested: the outer one publishes
        yield
        return
    held: list[dict[str, Any]] = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        if held:
            publish(held)


def transact(ops: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """Commit the change and its events together, then hand the events to the queue
    (at the end of the enclosing `deferred()`, if any)."""
    store.transact([*ops, *(put for e in events for put in outbox_puts(e))])
    if not events:
        return
    held = _held.get()
    if held is not None:
        held.extend(events)
    else:
        publish(events)


def publish(events: list[dict[str, Any]]) -> None:
    """To the events queue, then clear the pending marks. Failures leave them pending for
    the sweeper; the caller's change is already committed either way."""
    from chalicelib.core.logging import get_logger

    try:
        # What the queue refused stays pending, for the sweeper.
        refused = set(aws.send_batches("events", [{"MessageBody": json.dumps(e)}
                                                  for e in events]))
        if refused:
            get_logger().warning("events refused by the queue; left for the sweeper",
                                 extra={"refused": len(refused)})
        _mark_published([e for i, e in enumerate(events) if i not in refused])
    except Exception:  # noqa: BLE001 - the sweeper will send it
        get_logger().exception("event publish failed; left for the sweeper")


MARKS_PER_CALL = 100  # DynamoDB's items per transaction


def _mark_published(events: list[dict[str, Any]]) -> None:
    """Clears the pending marks: one transaction per 100 events rather than an UpdateItem
    each (a round trip per 100; transactional writes cost twice the capacity, round trips
    cost more). A transaction refused (an erasure rewriting one of them at that moment)
    falls back to one update each."""
    stamp = clock.iso()

    def one(event: dict[str, Any]) -> None:
        store.update(*_key(event["id"]), {"publishedAt": stamp},
                     remove=("GSI2PK", "GSI2SK"), returns=False)

    for start in range(0, len(events), MARKS_PER_CALL):
        chunk = events[start:start + MARKS_PER_CALL]
        if len(chunk) == 1:
            one(chunk[0])
            continue
        try:
            store.transact([{"Update": store.update_request(
                *_key(e["id"]), {"publishedAt": stamp}, remove=("GSI2PK", "GSI2SK"),
                condition="attribute_exists(PK)")} for e in chunk])
        except store.TransactionConflict:
            for event in chunk:
                one(event)


def sweep(limit: int = 100) -> int:
    """Sends events pending for more than SWEEP_AFTER seconds. Answers how many."""
    cutoff = clock.iso(clock.now() - SWEEP_AFTER)
    items, _ = store.query_page(PENDING, index="GSI2", limit=limit, forward=True,
                                sk_between=("0", cutoff))
    events = [json.loads(i["event"]) for i in items]
    if events:
        publish(events)
    return len(events)


def _erase(event_id: str) -> int:
    item = store.get(*_key(event_id), consistent=True)
    if item is None:
        return 0
    event = json.loads(item["event"])
    event["data"] = privacy.scrub(event.get("data"), event.get("personal") or {})
    store.update(*_key(event_id), {"event": json.dumps(event)})
    return 1


privacy.register(LINK, _erase, origin=True)
