"""An inbound connector's callbacks (no Gatehouse credentials: the connector's own
signature scheme authenticates them) and their log (the owner's, integrations:manage)."""

from __future__ import annotations

from chalicelib.core.lazy import on_first_call
from chalicelib.http.context import RequestContext
from chalicelib.http.models import PageQuery
from chalicelib.http.registry import ApiBlueprint, Reply, page

api = ApiBlueprint(__name__, "Integrations")

_inbound = on_first_call("chalicelib.integrations.inbound")
_inbound_log = on_first_call("chalicelib.integrations.inbound_log")


ONE = "/integrations/{integration_id}"


# limited=False: the edge's anonymous budget (100 an hour per IP) would stop a busy
# gateway, whose few addresses send every callback. Instead a failed check (unknown id,
# bad signature, stale timestamp) counts against the IP, and an IP out of budget gets
# 429 for further failures; a correctly signed callback is never charged.
@api.route(f"{ONE}/inbound", "POST", auth="none", limited=False, idempotent=False,
           media=("application/json",), errors=(403, 404, 409, 413),
           summary="Receive a gateway's signed event callback")
def receive(ctx: RequestContext, integration_id: str) -> Reply:
    """For a `payment_gateway` connector: the gateway posts its events here, signed as
    its scheme says (`stripe`: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
    "t.body">`, checked on the exact bytes received, within `toleranceSeconds`). A
    payment event is recorded on the order named in it (payment.received /
    payment.failed), once per gateway event id: a repeated delivery answers 200 with
    `duplicate: true` and records nothing. Events of other types, and payments that
    cannot apply (unknown or cancelled order, over the balance, another currency),
    answer 200 and are logged with the reason (GET .../inbound/events). 400: a missing,
    malformed or wrong signature, a timestamp outside the tolerance, a body that is not
    a JSON object, an event without an id. 403: the connector's owner no longer holds
    orders:write (nothing recorded; the gateway's retries record it once the right is
    back). 404: no inbound connector with this id. 503: the connector is paused."""
    result = _inbound().receive(integration_id, ctx.headers, ctx.raw_body or b"", ctx.ip)
    return Reply(result, 200, {"Cache-Control": "no-store"})


@api.route(f"{ONE}/inbound/events", scopes=("integrations:manage",), query=PageQuery,
           summary="An inbound connector's received events")
def inbound_events(ctx: RequestContext, integration_id: str, query: PageQuery) -> Reply:
    """Newest first, kept 30 days: `{eventId, eventType, outcome: recorded | ignored |
    rejected | refused, reason?, orderId?, amount?, status?, paymentId?, receivedAt}`.
    Callbacks refused before their event could be read (bad signature, stale timestamp)
    are not listed: the gateway's own dashboard shows those attempts."""
    from chalicelib.integrations import service

    connection = service.connection(ctx.actor, integration_id)
    items, cursor = _inbound_log().page(connection.id, cursor=query.cursor, limit=query.per_page)
    return page(items, cursor, query.per_page)
