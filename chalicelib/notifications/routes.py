"""/api/v2/notifications (v1 served too, deprecated like every v1 path): sending email and
SMS (scope notifications:send; the caller's owner's sends, an admin sees all) and the
caller's own in-app inbox (scope notifications:read; nobody reads another's, admins
included: it is a person's inbox, not a resource to administer)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from chalicelib.core.errors import ValidationFailed
from chalicelib.http.context import RequestContext
from chalicelib.http.registry import ApiBlueprint, Reply, ok, page
from chalicelib.notifications.models import InboxQuery, MarkRead, RecordsQuery, SendNotification

# The services are imported by the handlers that use them, not at every cold start.
api = ApiBlueprint(__name__, "Notifications")

SEND = ("notifications:send",)
READ = ("notifications:read",)
INBOX = "/notifications/inapp"
# "module:function" answering a configured email_ses/sms_sns connection's settings for a
# send (principal, connection id, channel) -> options: integrations has it (a higher
# layer); app.py names it, and it is imported on the first send that gives connectionId.
_connection_options: list[str] = []


def connection_options_from(path: str) -> None:
    _connection_options[:] = [path]


def _options(ctx: RequestContext, connection_id: str, channel: str) -> dict[str, str]:
    from chalicelib.core.errors import Unprocessable

    if not _connection_options:
        raise Unprocessable("Connections cannot be used for sending here.", details=[
            {"field": "connectionId", "message": "not available"}])
    module, _, name = _connection_options[0].partition(":")
    lookup: Callable[..., dict[str, str]] = getattr(importlib.import_module(module), name)
    return {**lookup(ctx.actor, connection_id, channel), "connection_id": connection_id}


@api.route("/notifications/send", "POST", scopes=SEND, body=SendNotification, errors=(429, 503),
           summary="Send an email or SMS")
def send_notification(ctx: RequestContext, body: SendNotification) -> Reply:
    """One message per recipient (nobody sees the others), through SES (email) or SNS
    (SMS, E.164 numbers), from a built-in `template` with `variables` or an inline
    `subject`/`body` (`{{name}}` placeholders; values HTML-escaped in HTML). Answers 200
    with the send's record: `status` sent | partial | failed | sandbox, and each
    recipient's outcome. 422: bad or too many recipients (20 per call), an unknown
    template or a missing variable (named in `details`), a message too large, or every
    recipient refused by the provider; 429: the owner's daily quota (1,000 recipients)
    is spent; 503: the provider is unavailable. `connectionId` sends with one of your
    `email_ses` / `sms_sns` connections' settings. A sandbox key's sends are checked and
    recorded (status `sandbox`) but never leave."""
    from chalicelib.notifications import service

    options = _options(ctx, body.connection_id, body.channel) if body.connection_id else {}
    req = service.Request(channel=body.channel, to=body.recipients(), template=body.template,
                          variables=body.values(), subject=body.subject, body=body.body,
                          html=body.html, **options)
    return ok(service.present(service.send(service.Sender.of(ctx.actor), req)))


@api.route("/notifications", scopes=SEND, query=RecordsQuery, summary="List sends")
def list_notifications(ctx: RequestContext, query: RecordsQuery) -> Reply:
    """The sends of the caller's owner (an admin: everyone's), newest first; kept 90
    days. Bodies are not kept."""
    from chalicelib.notifications import service

    items, cursor = service.listing(ctx.actor, query.cursor, query.per_page)
    return page([service.present(i) for i in items], cursor, query.per_page)


@api.route("/notifications/templates", scopes=SEND, summary="The built-in templates")
def list_templates(ctx: RequestContext) -> Reply:
    """Each with its subject, text, SMS text and the variables it needs."""
    from chalicelib.notifications import templates

    items = [t.describe() for t in templates.BUILT_IN.values()]
    return page(items, None, len(items))


@api.route("/notifications/{notification_id}", scopes=SEND, summary="Get a send")
def get_notification(ctx: RequestContext, notification_id: str) -> Reply:
    from chalicelib.notifications import service

    return ok(service.present(service.get(ctx.actor, notification_id)))


@api.route(INBOX, scopes=READ, query=InboxQuery, summary="My in-app notifications")
def list_inapp(ctx: RequestContext, query: InboxQuery) -> Reply:
    """Newest first; `is_read=true|false` filters. Pages by `cursor` (as every list) or
    by the brief's `page` number. Besides `data` and `pagination` the answer carries
    `count` (notifications matching the filter) and `unread_count` (all unread ones).
    An inbox keeps its newest 500 notifications."""
    from chalicelib.notifications import inapp, repo

    if query.page is not None and query.page * query.per_page > repo.INBOX_CAP:
        raise ValidationFailed(f"An inbox keeps its newest {repo.INBOX_CAP} notifications; "
                               "this page is beyond them.",
                               details=[{"field": "page", "message": "too far"}])
    found = inapp.listing(ctx.actor, query.is_read, cursor=query.cursor, page=query.page,
                          per_page=query.per_page)
    reply = page(found["items"], found["next_cursor"], query.per_page)
    # The ticket brief's (Django REST framework's) page besides ours: `results`, and
    # `next`/`previous` page links when paging by number.
    reply.body.update(count=found["count"], unread_count=found["unread_count"],
                      results=found["items"], **_page_links(ctx, query, found["count"]))
    return reply


def _page_links(ctx: RequestContext, query: InboxQuery, count: int) -> dict[str, Any]:
    if query.page is None:
        return {}
    from urllib.parse import urlencode

    def link(number: int) -> str:
        params = {k: v for k, v in ctx.query.items() if k != "page"}
        return f"{ctx.path}?{urlencode({**params, 'page': number})}"

    from chalicelib.notifications import repo

    last = max(1, -(-min(count, repo.INBOX_CAP) // query.per_page))
    return {"next": link(query.page + 1) if query.page < last else None,
            "previous": link(query.page - 1) if query.page > 1 else None}



@api.route(f"{INBOX}/read-all", "POST", scopes=READ, summary="Mark all my notifications read")
def read_all_inapp(ctx: RequestContext) -> Reply:
    """Answers how many were marked (`updated`)."""
    from chalicelib.notifications import inapp

    return ok({"updated": inapp.mark_all_read(ctx.actor)})


@api.route(f"{INBOX}/{{notification_id}}", scopes=READ, summary="Get one in-app notification")
def get_inapp(ctx: RequestContext, notification_id: str) -> Reply:
    from chalicelib.notifications import inapp

    return ok(inapp.get(ctx.actor, notification_id))


@api.route(f"{INBOX}/{{notification_id}}", "PATCH", scopes=READ, body=MarkRead,
           summary="Mark an in-app notification read (or unread)")
def mark_inapp(ctx: RequestContext, notification_id: str, body: MarkRead) -> Reply:
    """`{"is_read": true}` (the brief's body; `isRead` too) sets `read_at` (a second
    call keeps the first time); `false` makes it unread again. Another's: 404."""
    from chalicelib.notifications import inapp

    return ok(inapp.mark(ctx.actor, notification_id, body.is_read))
