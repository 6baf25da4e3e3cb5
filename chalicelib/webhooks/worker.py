"""The webhooks' Lambda entry points: the events and webhooks queues' handlers and the
minute schedule (app.py's handlers call these, in Lambda and in the local stack)."""

from __future__ import annotations

from typing import Any


def fan_out_batch(event: dict[str, Any]) -> dict[str, Any]:
    """SQS (events queue) -> one delivery per subscribed webhook; answers
    {"batchItemFailures": [...]} (Powertools' batch processor)."""
    from chalicelib.webhooks import fanout

    return fanout.process_event(event)


def deliver_batch(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """SQS (webhooks queue) -> HTTP attempts within the Lambda context's remaining time;
    answers {"batchItemFailures": [...]}."""
    from chalicelib.webhooks.delivery import batch

    return batch.process_event(event, context)


def every_minute() -> dict[str, Any]:
    """Outbox sweep, due, lost and stuck deliveries, then warned endpoints whose disable
    time has come (endpoint_health.py). A failing step cannot stall the others."""
    from chalicelib.core.logging import get_logger
    from chalicelib.events import outbox
    from chalicelib.webhooks import endpoint_health
    from chalicelib.webhooks.delivery import watchdog

    out: dict[str, Any] = {}
    for name, step in (("swept", outbox.sweep), ("deliveries", watchdog.sweep_due),
                       ("disabled", endpoint_health.sweep_warned)):
        try:
            out[name] = step()
        except Exception:  # noqa: BLE001 - logged; the next minute tries again
            get_logger().exception("every_minute step %s failed", name)
            out[name] = "error"
    return out
