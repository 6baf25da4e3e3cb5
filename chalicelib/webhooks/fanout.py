"""Fan-out: one event from the events queue becomes one delivery per subscribed, active
webhook of its namespace (live or sandbox), and one message per delivery on the webhooks
queue. Subscriptions: the index repo.py keeps per namespace and event type (or *).

Delivery ids derive from (event, webhook) and are created by a conditional put, so an
event sent twice (the outbox sweeper, an SQS redelivery) creates nothing twice.

A webhook gets an event only while its owner holds the event type's read scope (the
catalog's `read_scope`), read from the owner's user item now, not when it subscribed,
and only if whoever set its events and URL held it too (`readScopes`; see
subscriptions.may_send): a `*` subscription yields no more than either may read, and an
owner who lost a scope, or was deactivated or deleted, gets nothing more of it."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.auth.owners import scopes_in, user_key
from chalicelib.events import outbox
from chalicelib.events.messages import EventMessage
from chalicelib.store import table as store
from chalicelib.webhooks import repo, service, subscriptions
from chalicelib.webhooks.delivery import queue
from chalicelib.webhooks.delivery import repo as deliveries


def process_event(event: dict[str, Any]) -> dict[str, Any]:
    """One SQS batch of the events queue, through Powertools' BatchProcessor: each event
    creates its deliveries and sends their messages; a message that fails (not an event,
    a write or send that raised) is answered in `batchItemFailures` and comes again,
    which is harmless (see above). Subscription lists, webhooks and their owners are read
    once per batch."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    cache = Cache()
    cache.prefetch([r.get("body") for r in event.get("Records") or []])

    def handle(record: Any) -> None:
        try:
            queue.enqueue(fan_out(EventMessage.parse(record.body).as_dict(), cache))
        except Exception:
            from chalicelib.core.logging import get_logger

            get_logger().exception("fan-out failed", extra={"messageId": record.message_id})
            raise

    return dict(process_partial_response(event, handle, BatchProcessor(EventType.SQS)))


class Cache:
    """Per batch: a batch of ten events of one type reads its subscriptions once, then
    every webhook they name and those webhooks' owners (named by the subscriptions and
    the platform events) in one BatchGetItem."""

    def __init__(self) -> None:
        self.hooks: dict[str, dict[str, Any] | None] = {}
        self.subs: dict[str, list[dict[str, Any]]] = {}
        self.scopes: dict[str, frozenset[str]] = {}

    def prefetch(self, bodies: list[Any]) -> None:
        """Reads ahead for the batch's events; what fails here is read one by one later."""
        try:
            events = [b for b in (_parse(x) for x in bodies) if b is not None]
            wanted = {h for e in events for h in targets(e, self)
                      if h not in self.hooks and service.WEBHOOK_ID_RE.match(h)}
            named = ({str(sub.get("owner") or "") for subs in self.subs.values() for sub in subs}
                     | {str(e.get("owner") or "") for e in events}) - {""} - set(self.scopes)
            found = store.batch_get([*(repo.key(h) for h in wanted),
                                     *(user_key(o) for o in named)], True)
            for hid in wanted:
                self.hooks[hid] = found.get(repo.key(hid))
            self.scopes.update(scopes_in(found, named))
            # A webhook whose owner no subscription named (a targeted test event).
            self.owner_scopes(*{str(h.get("owner") or "") for h in self.hooks.values() if h})
        except Exception:  # noqa: BLE001 - an optimisation only
            from chalicelib.core.logging import get_logger

            get_logger().exception("fan-out prefetch failed")

    def hook(self, hid: str) -> dict[str, Any] | None:
        if hid not in self.hooks:
            self.hooks[hid] = service.get_webhook(hid)
        return self.hooks[hid]

    def owner_scopes(self, *owners: str) -> frozenset[str]:
        """The (first) owner's current scopes; unknown owners are read together."""
        from chalicelib.auth.owners import current_scopes

        missing = [o for o in owners if o and o not in self.scopes]
        if missing:
            self.scopes.update(current_scopes(missing))
        return self.scopes.get(owners[0], frozenset()) if owners else frozenset()

    def subscriptions(self, sandbox: bool, event_type: str) -> list[dict[str, Any]]:
        pk = repo.sub_pk(sandbox, event_type)
        if pk not in self.subs:
            self.subs[pk] = repo.subscribers(sandbox, event_type)
        return self.subs[pk]


def _parse(body: Any) -> dict[str, Any] | None:
    try:
        return dict(EventMessage.parse(body).as_dict())
    except (TypeError, ValueError):
        return None


def targets(event: dict[str, Any], cache: Cache) -> list[str]:
    """Webhook ids subscribed to the event (before the webhooks' own state is checked)."""
    if event.get("webhookId"):
        return [str(event["webhookId"])]  # e.g. webhook.test: that webhook only
    sandbox = bool(event.get("sandbox"))
    owner = event.get("owner") or ""
    found: list[str] = []
    for kind in (event["event"], "*"):
        for sub in cache.subscriptions(sandbox, kind):
            hid = str(sub.get("webhookId") or sub["SK"])
            if sub.get("active") is False or hid in found:
                continue
            # Platform events (they carry their owner) go to that owner's webhooks only.
            if owner and sub.get("owner") != owner:
                continue
            found.append(hid)
    return found


def fan_out(event: dict[str, Any], cache: Cache) -> list[queue.Message]:
    """Creates the event's deliveries; answers the queue messages to send."""
    send: list[queue.Message] = []
    if event.get("subject"):
        event = outbox.current(event)  # erased meanwhile: the rewritten copy
    for hid in targets(event, cache):
        hook = cache.hook(hid)
        if hook is None or repo.is_disabled(hook):
            continue
        if repo.is_paused(hook) and not event.get("webhookId"):
            continue
        if event.get("owner") and hook.get("owner") != event["owner"]:
            continue
        if bool(hook.get("sandbox", False)) != bool(event.get("sandbox", False)) \
                and not event.get("webhookId"):
            continue
        owner = str(hook.get("owner") or "")
        if not subscriptions.may_send(event["event"], hook, cache.owner_scopes(owner)):
            continue
        body = outbox.public_body(event)
        body["data"] = trim(body.get("data") or {}, hook.get("payloadFields") or [])
        item = deliveries.new_item(event, hook, json.dumps(body, separators=(",", ":")))
        if not deliveries.create(item, event.get("subject")):
            # Created by an earlier run, whose message may never have been sent: sending
            # again is harmless (the attempt's claim takes only one of them).
            existing = deliveries.get(item["id"])
            if not existing or existing.get("status") != "pending" \
                    or int(existing.get("attemptCount", 0)) != 0:
                continue
        send.append(queue.message(item, 0))
    return send


def trim(data: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Only the listed dotted paths of `data` (`customer.email`; a list applies the rest
    of the path to each element). No fields: everything."""
    if not fields:
        return data
    out: dict[str, Any] = {}
    for path in fields:
        parts = [p for p in path.removeprefix("data.").split(".") if p]
        if parts:
            _copy(data, out, parts)
    return out


def _copy(src: Any, dst: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not isinstance(src, dict) or head not in src:
        return
    value = src[head]
    if not rest:
        dst[head] = value
    elif isinstance(value, dict):
        _copy(value, dst.setdefault(head, {}), rest)
    elif isinstance(value, list):
        prior = dst.get(head)
        kept = prior if isinstance(prior, list) else [{} for _ in value]
        for elem, target in zip(value, kept, strict=False):
            _copy(elem, target, rest)
        dst[head] = kept
