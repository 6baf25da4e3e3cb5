"""Entry points of the queue and schedule handlers (placeholders until the module lands)."""

from __future__ import annotations

from typing import Any


def fan_out_batch(event: dict[str, Any]) -> dict[str, Any]:
    """SQS (events queue) -> one delivery per subscribed webhook."""
    raise NotImplementedError


def deliver_batch(event: dict[str, Any]) -> dict[str, Any]:
    """SQS (webhooks queue) -> HTTP attempts; answers {"batchItemFailures": [...]}."""
    raise NotImplementedError


def every_minute() -> dict[str, Any]:
    """Outbox sweep, due deliveries, endpoint health."""
    from chalicelib.events import outbox

    return {"swept": outbox.sweep()}
