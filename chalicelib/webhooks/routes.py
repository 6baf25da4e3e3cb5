"""Webhook management (scope webhooks:manage; own webhooks only, an admin sees all;
another owner's webhook answers 404) and the event catalog."""

from __future__ import annotations

from chalicelib.events import catalog
from chalicelib.http.context import RequestContext
from chalicelib.http.registry import ApiBlueprint, Reply, ok, page, with_secret
from chalicelib.webhooks import (
    platform_events,  # noqa: F401 - registers the platform events
    service,
)
from chalicelib.webhooks.models import CreateWebhook, ListWebhooks, RotateSecret, UpdateWebhook

api = ApiBlueprint(__name__, "Webhooks")

SCOPE = ("webhooks:manage",)


@api.route("/webhooks/events", summary="The event catalog")
def event_catalog(ctx: RequestContext) -> Reply:
    """Every event type a webhook can subscribe to, with its description, the JSON Schema
    of its `data` and an example body. Platform events go to their owner's webhooks only.
    `requiredScope` is the scope that reads a type: subscribing to it needs that scope,
    and its events reach a webhook only while the webhook's owner holds it (and the
    principal that last set the webhook's events or URL held it). Subscribe to `*` for
    every type those may read."""
    events = catalog.describe()
    return ok(events, {"count": len(events)})


@api.route("/webhooks", scopes=SCOPE, query=ListWebhooks, summary="List webhooks")
def list_webhooks(ctx: RequestContext, query: ListWebhooks) -> Reply:
    """The caller's webhooks (an admin: every webhook), newest first."""
    items, cursor = service.list_webhooks(ctx.actor, query)
    return page(items, cursor, query.per_page)


@api.route("/webhooks", "POST", scopes=SCOPE, body=CreateWebhook, status=201,
           summary="Create a webhook", errors=(409,))
def create_webhook(ctx: RequestContext, body: CreateWebhook) -> Reply:
    """Answers the webhook with its signing `secret` (whsec_...), shown this once. The URL
    must be a public http(s) address (https in deployed stages); custom `headers` are
    stored encrypted and shown redacted. Each subscribed type needs its `requiredScope`
    (see /webhooks/events): 403 AUTHORIZATION_ERROR names each missing one in `details`
    (`event`, `requiredScope`), and nothing is written."""
    return with_secret(ctx, "webhooks", service.create(ctx.actor, body), 201)


@api.route("/webhooks/{webhook_id}", scopes=SCOPE, summary="Get a webhook")
def get_webhook(ctx: RequestContext, webhook_id: str) -> Reply:
    """The webhook, without its secret; custom header values are redacted."""
    return ok(service.get(ctx.actor, webhook_id))


@api.route("/webhooks/{webhook_id}", "PUT", scopes=SCOPE, body=UpdateWebhook,
           summary="Update, pause or resume a webhook", errors=(409,))
def update_webhook(ctx: RequestContext, webhook_id: str, body: UpdateWebhook) -> Reply:
    """Changes the given fields. `active: false` pauses deliveries; `active: true` resumes
    a paused or disabled webhook (its failure count starts again). Giving `events` or
    `url` subscribes anew: every type needs its `requiredScope` (403 otherwise)."""
    return ok(service.update(ctx.actor, webhook_id, body))


@api.route("/webhooks/{webhook_id}", "DELETE", scopes=SCOPE, status=204,
           summary="Delete a webhook")
def delete_webhook(ctx: RequestContext, webhook_id: str) -> None:
    service.delete(ctx.actor, webhook_id)


@api.route("/webhooks/{webhook_id}/test", "POST", scopes=SCOPE, status=202,
           summary="Send a test event")
def test_webhook(ctx: RequestContext, webhook_id: str) -> Reply:
    """Queues a `webhook.test` event for this webhook only; follow it in its deliveries."""
    return ok(service.send_test(ctx.actor, webhook_id), status=202)


@api.route("/webhooks/{webhook_id}/rotate-secret", "POST", scopes=SCOPE, body=RotateSecret,
           summary="Rotate the signing secret", errors=(409,))
def rotate_secret(ctx: RequestContext, webhook_id: str, body: RotateSecret) -> Reply:
    """Answers the webhook with its new `secret`, shown this once. For `overlapHours`
    (default 24, at most 168) deliveries carry signatures with both secrets."""
    return with_secret(ctx, "webhooks", service.rotate_secret(ctx.actor, webhook_id, body), 200)
