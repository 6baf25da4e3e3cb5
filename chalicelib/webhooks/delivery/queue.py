"""Messages on the webhooks queue: {"deliveryId": ..., "seq": ...}, one per attempt slot
(seq = the delivery's attemptCount when the message was sent)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import aws

SQS_MAX_DELAY = 900  # seconds: a longer wait goes through the DUE index (repo.py)


def parse(body: Any) -> tuple[str, int]:
    """(deliveryId, seq) of a message body; raises KeyError, TypeError or ValueError when
    it is not a delivery message."""
    msg = json.loads(body)
    return str(msg["deliveryId"]), int(msg["seq"])


def enqueue(entries: list[tuple[str, int, float]]) -> None:
    """(deliveryId, seq, delay seconds) -> the webhooks queue. SQS delays are whole
    seconds: rounded, since an arrival up to attempt.EARLY_SLACK early is still
    attempted."""
    if not entries:
        return
    from chalicelib.events.outbox import queue_url

    sqs = aws.client("sqs")
    url = queue_url("webhooks")
    for start in range(0, len(entries), 10):
        chunk = entries[start:start + 10]
        resp = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"deliveryId": d, "seq": s}),
             "DelaySeconds": max(0, min(SQS_MAX_DELAY, round(delay)))}
            for i, (d, s, delay) in enumerate(chunk)])
        if resp.get("Failed"):
            raise RuntimeError(f"SQS refused {len(resp['Failed'])} message(s)")
