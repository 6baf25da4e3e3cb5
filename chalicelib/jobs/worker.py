"""The jobs queue's SQS entry point (app.py's handler calls it, in Lambda and in the
local stack). One message per invocation (batch size 1), so each job step has the whole
invocation's time."""

from __future__ import annotations

from typing import Any


def process_batch(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Runs the job of each message; answers {"batchItemFailures": [...]}: a message
    that is not a job message (to the DLQ in the end), whose run raised, or that must
    come back when its job's lease ends."""
    from chalicelib.core.logging import get_logger
    from chalicelib.jobs import engine, queue

    failed: list[str] = []
    for record in event.get("Records") or []:
        ident = str(record.get("messageId", ""))
        try:
            message, receipt = queue.parse_record(record)
            outcome = engine.handle(message.job_id, message.seq, context)
        except Exception:  # noqa: BLE001 - the message comes back; logged
            get_logger().exception("job message failed", extra={"messageId": ident})
            failed.append(ident)
            continue
        if outcome.action == "later":
            failed.append(ident)
            try:
                queue.come_back_in(receipt, outcome.retry_in)
            except Exception:  # noqa: BLE001 - then it comes back after the usual timeout
                get_logger().warning("visibility not changed", extra={"messageId": ident})
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
