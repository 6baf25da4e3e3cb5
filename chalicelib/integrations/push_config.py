"""A connection's push subscription: `config.push.events`, the event types whose events
the connection sends out (rest and its presets: POSTed to baseUrl + push.path; s3_drop:
one object per event).

A pattern is an event type of the catalog ("order.created"), a family of them
("product.*": every type starting "product.") or "*" (every type). Subscribing needs
the read scope of each named type, as a webhook's subscription does
(webhooks/subscriptions.py); a family or "*" means "every type of it the owner may
read" and needs at least one of them to be readable. Each event is sent only while the
connection's owner, and whoever last set its config (its ceiling `scopes`), hold the
type's read scope: push_worker re-checks at every attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from chalicelib.core.errors import Unprocessable
from chalicelib.core.principal import Principal

MAX_PATTERNS = 20   # index items written with the connection, in its transaction
_PATTERN = r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*|[a-z][a-z0-9_]*(\.[a-z0-9_]+)+)$"


def family(event_type: str) -> str:
    """"order.*" for "order.created"."""
    return event_type.rsplit(".", 1)[0] + ".*"


def patterns_of(event_type: str) -> tuple[str, str, str]:
    """The patterns that match an event type: the index keys fan-out reads."""
    return event_type, family(event_type), "*"


def types_of(pattern: str) -> list[str]:
    """The catalog's event types a pattern covers now."""
    from chalicelib.events.catalog import CATALOG

    if pattern == "*":
        return sorted(CATALOG)
    if pattern.endswith(".*"):
        return sorted(t for t in CATALOG if t.startswith(pattern[:-1]))
    return [pattern] if pattern in CATALOG else []


def _known(value: list[str]) -> list[str]:
    """Each pattern covers at least one type of the catalog. Sorted, no repeats; "*"
    alone covers everything."""
    unknown = sorted({p for p in value if not types_of(p)})
    if unknown:
        raise ValueError(f"no event type of the catalog matches: {', '.join(unknown)} "
                         "(see GET /webhooks/events)")
    return ["*"] if "*" in value else sorted(set(value))


PushEvents = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100, pattern=_PATTERN)]],
    Field(min_length=1, max_length=MAX_PATTERNS, description=(
        "Event types sent out: names of the event catalog (GET /webhooks/events), a "
        "family (\"product.*\") or \"*\". Each named type needs its read scope; a family "
        "or * sends only the types its owner may read.")),
    AfterValidator(_known)]


def events_of(config: dict[str, Any]) -> list[str]:
    """The patterns a (validated) config subscribes to; [] when it pushes no events."""
    push = config.get("push")
    events = push.get("events") if isinstance(push, dict) else None
    return [str(e) for e in events or ()]


def check(actor: Principal, owner: str, config: dict[str, Any],
          stored: Iterable[str] = ()) -> None:
    """422 (config.push.events) unless the actor, and the owner it acts for, may read
    each named type, and at least one type of each family or *. An admin setting
    another's connection leaves its ceiling (`stored`: the scopes of whoever set it up)
    as it is, and every push is checked against it: that must read them too."""
    events = events_of(config)
    if not events:
        return
    from chalicelib.events import catalog

    held = [actor.scopes]
    if owner != actor.owner:  # an admin setting another's connection: the owner's too
        from chalicelib.auth.owners import current_scopes

        held.append(current_scopes([owner]).get(owner, frozenset()))
        held.append(frozenset(stored))
    details: list[dict[str, Any]] = []
    for pattern in events:
        covered = types_of(pattern)
        readable = [t for t in covered if all(catalog.readable(t, s) for s in held)]
        if readable:
            continue
        needed = sorted({str(catalog.read_scope(t)) for t in covered})
        message = f"{pattern} needs the scope {' or '.join(needed)}"
        if any(all(catalog.readable(t, s) for s in held[:-1]) for t in covered) \
                and owner != actor.owner:
            message += (" (whoever set up this connection did not hold it: its owner "
                        "sets the config again)")
        details.append({"field": "config.push.events", "event": pattern,
                        "requiredScope": needed[0] if len(needed) == 1 else needed,
                        "message": message})
    if details:
        raise Unprocessable("Pushing an event type needs its read scope: "
                            + "; ".join(str(d["message"]) for d in details) + ".",
                            details=details)
