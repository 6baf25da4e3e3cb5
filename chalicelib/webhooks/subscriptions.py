"""Who may subscribe a webhook to what, and what a webhook may be sent.

Subscribing needs the read scope of each event type (the catalog's `read_scope`) held by
the principal making the request: a key with only webhooks:manage cannot route customer
data to a URL of its choosing. `*` needs none: it means every type that principal may
read. The read scopes it held are kept on the webhook (`readScopes`, rewritten whenever
the events or the URL change), and a type is sent only if it is among them and the
webhook's owner holds it at the time (`may_send`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.core.errors import Forbidden
from chalicelib.core.principal import Principal
from chalicelib.events import catalog


def read_scopes(actor: Principal) -> list[str]:
    """The event read scopes the actor holds: the most its subscriptions may ever yield."""
    from chalicelib.core.scopes import expand

    held = expand(actor.scopes)
    if "admin" in held:
        return ["admin"]  # as users/rights.carried keeps it: event types added later included
    return sorted({e.read_scope for e in catalog.CATALOG.values()} & held)


def check_subscription(actor: Principal, events: list[str]) -> None:
    """403 unless the actor may read every subscribed type; details name each type and
    the scope it needs."""
    missing = [(e, catalog.read_scope(e)) for e in events
               if e != "*" and not catalog.readable(e, actor.scopes)]
    if missing:
        raise Forbidden(
            "Subscribing to an event type needs its read scope: "
            + ", ".join(sorted({str(scope) for _, scope in missing})) + ".",
            details=[{"field": "events", "event": e, "requiredScope": scope,
                      "message": f"{e} needs the scope {scope}"} for e, scope in missing])


def may_send(event_type: str, hook: dict[str, Any], owner_scopes: Iterable[str]) -> bool:
    """Its owner holds the type's read scope now (`owner_scopes`, as owners.py reads
    them), and so did whoever chose its events and URL (`readScopes`; absent on webhooks
    made before it was kept)."""
    ceiling = hook.get("readScopes")
    if ceiling is not None and not catalog.readable(event_type, ceiling):
        return False
    return catalog.readable(event_type, owner_scopes)
