"""The event catalog: every event type, declared once with its description, the model of
its `data` (whose JSON Schema the catalog publishes) and an example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    model: Any  # a pydantic model class describing `data`
    example: dict[str, Any]
    platform: bool = False  # about the platform itself (sent to its owner's webhooks only)


CATALOG: dict[str, EventType] = {}


def register(name: str, description: str, model: Any, example: dict[str, Any],
             platform: bool = False) -> EventType:
    if name in CATALOG:
        raise ValueError(f"event type {name} declared twice")
    CATALOG[name] = EventType(name, description, model, example, platform)
    return CATALOG[name]


def describe() -> list[dict[str, Any]]:
    out = []
    for event in sorted(CATALOG.values(), key=lambda e: e.name):
        out.append({"type": event.name, "description": event.description,
                    "platform": event.platform,
                    "schema": event.model.model_json_schema(by_alias=True),
                    "example": {"id": "evt_01example", "event": event.name,
                                "timestamp": "2026-01-01T00:00:00.000Z",
                                "data": event.example}})
    return out
