"""Personal data in the event trail. An event that carries a person's data (a customer's
own events, an order with its shipping address) names that person as its subject; the
outbox event and every delivery made of it are linked to the subject, so erasing the
person rewrites those copies too (the delivery API shows payloads):

  SUBJECT#<ns>#<customer id> / EVT#<event id>     the outbox event (kept as long as it)
  SUBJECT#<ns>#<customer id> / DLV#<delivery id>  a delivery (kept as long as it)

The event names what to rewrite (`personal`: field -> replacement, None to remove), so
erasure needs no knowledge of the resource that raised it. Answers the receivers gave
(in the attempt log) are theirs and are left as they are.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.store import table as store


def subject_pk(subject: str) -> str:
    return f"SUBJECT#{subject}"


def link_item(subject: str, target: str, ttl: int) -> dict[str, Any]:
    """target: EVT#<event id> or DLV#<delivery id>."""
    return {"PK": subject_pk(subject), "SK": target, "ttl": ttl}


def scrub(data: Any, personal: dict[str, Any]) -> Any:
    """The event data with its personal fields replaced (or removed)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, replacement in personal.items():
        if name in out:
            if replacement is None:
                del out[name]
            else:
                out[name] = replacement
    return out


def current(event: dict[str, Any]) -> dict[str, Any]:
    """The event as its outbox item holds it now (erasure may have rewritten it since
    the message was sent)."""
    item = store.get(f"OUTBOX#{event['id']}", "EVENT", consistent=True)
    return json.loads(item["event"]) if item else event


def erase(subject: str) -> int:
    """Rewrites every linked copy of the subject's data; answers how many it rewrote.
    Safe to repeat. Events first: a fan-out that starts later copies the rewritten event.
    A link whose delivery does not exist yet is kept (its fan-out is running: a repeated
    erasure catches it); the others are removed once their copy is clean."""
    count = 0
    for prefix, rewrite in (("EVT#", _erase_event), ("DLV#", _erase_delivery)):
        for link in store.query_all(subject_pk(subject), sk_prefix=prefix, forward=True):
            done = rewrite(str(link["SK"]).removeprefix(prefix))
            count += done
            if done or prefix == "EVT#":
                store.delete(str(link["PK"]), str(link["SK"]))
    return count


def _erase_event(event_id: str) -> int:
    item = store.get(f"OUTBOX#{event_id}", "EVENT", consistent=True)
    if item is None:
        return 0
    event = json.loads(item["event"])
    event["data"] = scrub(event.get("data"), event.get("personal") or {})
    store.update(f"OUTBOX#{event_id}", "EVENT", {"event": json.dumps(event)})
    return 1


def _erase_delivery(did: str) -> int:
    from chalicelib.webhooks import delivery

    item = delivery.get(did)
    if item is None:
        return 0
    body = json.loads(item.get("body") or "{}")
    body["data"] = scrub(body.get("data"), item.get("personal") or {})
    store.update(*delivery.key(did), {"body": json.dumps(body, separators=(",", ":"))})
    return 1
