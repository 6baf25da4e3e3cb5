"""Events to connections: the events queue's handler (app.py's fan_out, beside webhooks'
fan-out and in-app notifications) hands each batch here; each event becomes one push
per active connection of its namespace subscribed to its type, and one message on the
pushes queue per push (push_worker.py sends it).

Subscriptions are the index repo.py keeps per namespace and pattern (the type, its
family, "*"), read once per batch and pattern. A platform event (it carries its owner)
goes to that owner's connections only. A connection is skipped here when its owner
cannot read the type now (a `*` subscription yields what its owner may read); the
worker checks everything again when it sends.

The push item (push_log.py) is created only if absent, so an event fanned out twice
(the outbox sweeper, an SQS redelivery) pushes once; a push created by an earlier run
and never tried has its message sent again (a duplicate message finds it claimed or
done: push_worker.py).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core import aws
from chalicelib.integrations import push_config, push_log, repo


class PushMessage(BaseModel):
    """A message of the pushes queue: the push (connection, event id) and the event as
    the events queue carried it (its public part is what is sent)."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    connection_id: str = Field(alias="connectionId", min_length=1, max_length=100)
    event: dict[str, Any]

    def body(self) -> str:
        return json.dumps({"connectionId": self.connection_id, "event": self.event},
                          separators=(",", ":"))


class _Batch:
    """Per batch: subscriptions per (namespace, pattern), owners' scopes."""

    def __init__(self) -> None:
        self.subs: dict[tuple[bool, str], list[dict[str, Any]]] = {}
        self.scopes: dict[str, frozenset[str]] = {}

    def subscribers(self, sandbox: bool, pattern: str) -> list[dict[str, Any]]:
        if (sandbox, pattern) not in self.subs:
            self.subs[(sandbox, pattern)] = repo.push_subscribers(sandbox, pattern)
        return self.subs[(sandbox, pattern)]

    def owner_scopes(self, owners: set[str]) -> dict[str, frozenset[str]]:
        missing = [o for o in owners if o not in self.scopes]
        if missing:
            from chalicelib.auth.owners import current_scopes

            self.scopes.update(current_scopes(missing))
        return self.scopes


def from_events(batch: dict[str, Any]) -> list[str]:
    """An events-queue batch (Lambda's SQS event) -> pushes; answers the message ids
    whose pushes could not be made (reported failed, they come again). Bodies that are
    not events are left to webhooks' fan-out to report."""
    from chalicelib.core.logging import get_logger
    from chalicelib.events.messages import EventMessage

    cache = _Batch()
    failed: list[str] = []
    for record in batch.get("Records") or []:
        try:
            event = dict(EventMessage.parse(record.get("body") or "").as_dict())
        except ValueError:
            continue
        if event.get("webhookId"):
            continue  # a webhook's test event: that webhook's only
        try:
            enqueue(fan_out(event, cache))
        except Exception:  # noqa: BLE001 - this message is retried, the batch goes on
            get_logger().exception("push fan-out failed",
                                   extra={"messageId": record.get("messageId")})
            failed.append(str(record.get("messageId", "")))
    return failed


def targets(event: dict[str, Any], cache: _Batch) -> dict[str, str]:
    """Connection id -> owner, of the active subscriptions that match the event."""
    sandbox, owner = bool(event.get("sandbox")), str(event.get("owner") or "")
    found: dict[str, str] = {}
    for pattern in push_config.patterns_of(str(event["event"])):
        for sub in cache.subscribers(sandbox, pattern):
            if sub.get("active") is False or (owner and sub.get("owner") != owner):
                continue
            found.setdefault(str(sub["connectionId"]), str(sub.get("owner") or ""))
    return found


def fan_out(event: dict[str, Any], cache: _Batch) -> list[PushMessage]:
    """Creates the event's pushes; answers the messages to send."""
    from chalicelib.events import catalog, outbox

    found = targets(event, cache)
    if not found:
        return []
    scopes = cache.owner_scopes(set(found.values()))
    if event.get("subject"):
        event = outbox.current(event)  # erased meanwhile: the rewritten copy
    out: list[PushMessage] = []
    for connection_id, owner in found.items():
        if not catalog.readable(str(event["event"]), scopes.get(owner, frozenset())):
            continue
        if not push_log.create(push_log.new_item(connection_id, event)):
            existing = push_log.get(connection_id, str(event["id"]))
            if not existing or existing.get("status") != "pending" \
                    or int(existing.get("attempts", 0)) != 0:
                continue
        # What erasure would rewrite stays in the outbox: the worker reads it there.
        routed = {k: v for k, v in event.items() if k != "personal"}
        out.append(PushMessage(connection_id=connection_id, event=routed))
    return out


def enqueue(messages: list[PushMessage]) -> None:
    if not messages:
        return
    refused = aws.send_batches("pushes", [{"MessageBody": m.body()} for m in messages])
    if refused:
        raise RuntimeError(f"SQS refused {len(refused)} push message(s)")
