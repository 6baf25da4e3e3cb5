"""The delivery-log API (its operations: service.py): list (also as delivery-logs), get
one with every attempt, redeliver, recover a time window, stats. Scope webhooks:manage;
the webhook's owner only (an admin sees all; another owner's webhook or delivery answers
404).

What an event says is shown only to who may read it: a delivery's payload `data` (and
the receiver's answers, which may echo it) appear only when both the caller and the
webhook's owner, now, hold the event type's read scope; otherwise the delivery answers
`dataOmitted: true` with the `requiredScope`. Redelivering sends the payload again, so it
follows fan-out's rule (subscriptions.may_send): the owner holds that scope still, and so
did whoever last set the webhook's events or URL (403 otherwise; recover skips such
deliveries)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, field_validator, model_validator

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, Forbidden, NotFound
from chalicelib.events import catalog
from chalicelib.http.context import RequestContext
from chalicelib.http.models import Body, PageQuery
from chalicelib.http.registry import ApiBlueprint, Reply, ok, page
from chalicelib.webhooks import service as webhooks
from chalicelib.webhooks import subscriptions
from chalicelib.webhooks.delivery import repo, service

api = ApiBlueprint(__name__, "Webhook deliveries")

SCOPE = ("webhooks:manage",)


class ListDeliveries(PageQuery):
    status: str | None = Field(None, max_length=100, description=(
        "Comma-separated: pending, delivering, delivered, failed, cancelled."))

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bad = [s for s in value.split(",") if s.strip() not in repo.STATUSES]
        if bad:
            raise ValueError(f"unknown status(es): {', '.join(bad)}")
        return value


class Recover(Body):
    since: AwareDatetime = Field(description="RFC 3339: deliveries created from here...")
    until: AwareDatetime | None = Field(None, description="...to here (default: now).")

    @model_validator(mode="after")
    def _order(self) -> Recover:
        if self.until is not None and self.until < self.since:
            raise ValueError("until is before since")
        return self


def _webhook(ctx: RequestContext, webhook_id: str) -> dict[str, Any]:
    assert ctx.principal is not None  # the edge has authenticated the route
    return dict(webhooks.visible(ctx.principal, webhook_id))


class _Readers:
    """Who may see an event type's data here: the caller, and the webhook's owner as of
    now (read once, on first need); and whether the webhook may be sent it again."""

    def __init__(self, ctx: RequestContext, hook: dict[str, Any]) -> None:
        self.caller = ctx.actor.scopes
        self.hook = hook
        self._owner: frozenset[str] | None = None

    def _owner_scopes(self) -> frozenset[str]:
        if self._owner is None:
            from chalicelib.auth.owners import current_scopes

            owner_id = str(self.hook.get("owner") or "")
            self._owner = current_scopes([owner_id]).get(owner_id, frozenset())
        return self._owner

    def owner(self, event_type: str) -> bool:
        return catalog.readable(event_type, self._owner_scopes())

    def sendable(self, event_type: str) -> bool:
        """As fan-out decides: the owner reads it now, and whoever last chose the
        webhook's events or URL could (a URL moved since must not get earlier data)."""
        return subscriptions.may_send(event_type, self.hook, self._owner_scopes())

    def __call__(self, event_type: str) -> bool:
        return catalog.readable(event_type, self.caller) and self.owner(event_type)


def _delivery(ctx: RequestContext, webhook_id: str, delivery_id: str
              ) -> tuple[dict[str, Any], _Readers]:
    hook = _webhook(ctx, webhook_id)
    item = service.find(webhook_id, delivery_id)
    if item is None:
        raise NotFound("No such delivery.")
    return item, _Readers(ctx, hook)


def _list(ctx: RequestContext, webhook_id: str, query: ListDeliveries) -> Reply:
    readers = _Readers(ctx, _webhook(ctx, webhook_id))
    statuses = {s.strip() for s in query.status.split(",")} if query.status else None
    items, cursor = service.list_for(webhook_id, statuses, query.cursor, query.per_page,
                                       readers)
    return page(items, cursor, query.per_page)


@api.route("/webhooks/{webhook_id}/deliveries", scopes=SCOPE, query=ListDeliveries,
           summary="List a webhook's deliveries")
def list_deliveries(ctx: RequestContext, webhook_id: str, query: ListDeliveries) -> Reply:
    """Newest first, each with its attempts (status, duration, truncated response, error,
    request headers with secrets redacted) and `nextAttemptAt` while a retry is due.
    Each names the `requiredScope` of its event type; unless both the caller and the
    webhook's owner hold it now, the receiver's answers are left out (`responseBody`
    null) and `dataOmitted` is true."""
    return _list(ctx, webhook_id, query)


@api.route("/webhooks/{webhook_id}/delivery-logs", scopes=SCOPE, query=ListDeliveries,
           summary="List a webhook's delivery logs")
def list_delivery_logs(ctx: RequestContext, webhook_id: str, query: ListDeliveries) -> Reply:
    """The same list as /deliveries (the brief's name for it)."""
    return _list(ctx, webhook_id, query)


@api.route("/webhooks/{webhook_id}/deliveries/{delivery_id}", scopes=SCOPE,
           summary="Get a delivery")
def get_delivery(ctx: RequestContext, webhook_id: str, delivery_id: str) -> Reply:
    """The delivery with every attempt and the payload as sent (its `data` only for
    callers and owners holding the event type's read scope, see `dataOmitted`)."""
    item, readers = _delivery(ctx, webhook_id, delivery_id)
    return ok(service.public(item, readers(str(item.get("event"))), with_payload=True))


@api.route("/webhooks/{webhook_id}/redeliver/{delivery_id}", "POST", scopes=SCOPE,
           status=202, summary="Redeliver a delivery", errors=(409,))
def redeliver(ctx: RequestContext, webhook_id: str, delivery_id: str) -> Reply:
    """A new attempt cycle (the full retry schedule) starts now; earlier attempts stay in
    the log. 409 while an attempt is in flight; 403 when the webhook's owner no longer
    holds the event type's read scope, or whoever last set its events or URL did not."""
    item, readers = _delivery(ctx, webhook_id, delivery_id)
    event_type = str(item.get("event"))
    if not readers.sendable(event_type):
        scope = catalog.read_scope(event_type)
        raise Forbidden("This event is not sent again: the webhook's owner may no longer "
                        "read it, or whoever last set the webhook's events or URL could "
                        "not.", details=[{"field": "event", "event": event_type,
                                            "requiredScope": scope,
                                            "message": f"{event_type} needs {scope}"}])
    if item.get("status") == "delivering":
        raise Conflict("An attempt is in progress; try again when it ends.")
    done = service.redeliver(item)
    if done is None:
        raise Conflict("The delivery changed meanwhile; try again.")
    return ok(service.public(done, readers(event_type)), status=202)


@api.route("/webhooks/{webhook_id}/recover", "POST", scopes=SCOPE, body=Recover, status=202,
           summary="Redeliver every failed delivery of a time window")
def recover(ctx: RequestContext, webhook_id: str, body: Recover) -> Reply:
    """Every `failed` delivery created between `since` and `until` starts a new attempt
    cycle; answers how many (those it may no longer be sent, as for redeliver, are left
    as they are)."""
    readers = _Readers(ctx, _webhook(ctx, webhook_id))
    since = clock.iso(body.since.timestamp())
    until = clock.iso((body.until or datetime.fromtimestamp(clock.now()).astimezone())
                      .timestamp())
    count = service.recover(webhook_id, since, until, readers.sendable)
    return ok({"webhookId": webhook_id, "since": since, "until": until, "recovered": count},
              status=202)


@api.route("/webhooks/{webhook_id}/stats", scopes=SCOPE, summary="Delivery statistics")
def stats(ctx: RequestContext, webhook_id: str) -> Reply:
    """Over the newest 1,000 deliveries: counts by status, success rate (delivered over
    delivered + failed), attempts, and attempt latency p50/p95/p99 in milliseconds."""
    _webhook(ctx, webhook_id)
    return ok(service.stats(webhook_id))
