"""/api/v1/integrations/{id}/pushes: a connection's event pushes (scope
integrations:manage; own connections only, an admin sees all; another owner's 404)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.core.lazy import on_first_call
from chalicelib.http.context import RequestContext
from chalicelib.http.models import PageQuery
from chalicelib.http.registry import ApiBlueprint, Reply, page

api = ApiBlueprint(__name__, "Integrations")

_service = on_first_call("chalicelib.integrations.service")
_push_log = on_first_call("chalicelib.integrations.push_log")
_bytype = on_first_call("chalicelib.integrations.bytype")


class PushesQuery(PageQuery):
    status: Literal["pending", "delivered", "failed", "dropped"] | None = Field(
        None, description="Only pushes with this status.")


@api.route("/integrations/{integration_id}/pushes", scopes=("integrations:manage",),
           query=PushesQuery, summary="An integration's event pushes")
def integration_pushes(ctx: RequestContext, integration_id: str, query: PushesQuery) -> Reply:
    """The events pushed (config.push.events), newest first, kept 30 days: `{eventId,
    eventType, status: pending | delivered | failed | dropped, attempts, createdAt,
    lastAttemptAt, nextAttemptAt?, finishedAt?, result?, lastError?, reason?}`.
    `failed`: given up after 8 attempts over about 22.6 h (or at once when no retry
    would help: a 3xx, a 4xx other than 401, 408, 425 and 429); `dropped`: not sent,
    and `reason` says why (paused or deleted, the owner lost the event's read scope,
    unusable credentials, a config no longer valid). `/integrations/{type}/pushes`: your
    one connection of that type."""
    ref = str(_bytype().resolve(ctx.actor, integration_id))  # as /sync and /status do
    connection = _service().connection(ctx.actor, ref)
    items, cursor = _push_log().page(connection.id, cursor=query.cursor,
                                     limit=query.per_page, status=query.status)
    return page(items, cursor, query.per_page)
