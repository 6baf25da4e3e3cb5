"""The event catalog: every event type, declared once with its description, the model of
its `data` (whose JSON Schema the catalog publishes, and which builds the data:
`payload`), an example, and the scope needed to read it (`read_scope`): a webhook may
subscribe to a type only if its creator holds that scope, and fan-out sends it only while
the webhook's owner holds it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.core.scopes import SCOPES, expand


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    model: Any  # a pydantic model class describing `data`
    example: dict[str, Any]
    read_scope: str  # who may see `data`: a subscriber's creator and its owner
    platform: bool = False  # about the platform itself (sent to its owner's webhooks only)


CATALOG: dict[str, EventType] = {}


def register(name: str, description: str, model: Any, example: dict[str, Any], *,
             read_scope: str, platform: bool = False) -> EventType:
    if name in CATALOG:
        raise ValueError(f"event type {name} declared twice")
    if read_scope not in SCOPES or read_scope == "admin":
        raise ValueError(f"event type {name}: {read_scope!r} is not a scope to read it by")
    CATALOG[name] = EventType(name, description, model, example, read_scope, platform)
    return CATALOG[name]


def payload(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event's `data`, built by its type's model: what the published schema describes
    (JSON types, camelCase names), fields the model does not declare left out, those not
    given not added. A type not declared here, or data its model refuses, is a bug of
    the emitter: it raises (KeyError, pydantic's ValidationError)."""
    return dict(CATALOG[name].model.model_validate(data).model_dump(
        mode="json", by_alias=True, exclude_unset=True))


def read_scope(name: str) -> str | None:
    """The scope that reads events of this type; None for a type no longer declared (its
    copies are then shown to nobody but an admin)."""
    event = CATALOG.get(name)
    return event.read_scope if event else None


def readable(name: str, scopes: Iterable[str]) -> bool:
    """Whether holders of these scopes (expanded here: `admin` and implied ones count)
    may see events of this type."""
    needed = read_scope(name)
    return needed is not None and needed in expand(scopes)


def describe() -> list[dict[str, Any]]:
    out = []
    for event in sorted(CATALOG.values(), key=lambda e: e.name):
        out.append({"type": event.name, "description": event.description,
                    "platform": event.platform, "requiredScope": event.read_scope,
                    "schema": event.model.model_json_schema(by_alias=True),
                    "example": {"id": "evt_01example", "event": event.name,
                                "timestamp": "2026-01-01T00:00:00.000Z",
                                "data": event.example}})
    return out
