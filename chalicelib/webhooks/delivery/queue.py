"""Messages on the webhooks queue (events/messages.DeliveryMessage), one per attempt
slot: the delivery, the slot (its attemptCount when sent), and the webhook and owner
the delivery names, which let a batch read its deliveries, their webhooks and the owners
in one BatchGetItem (a message of an older version, without them, costs its batch a
second read, nothing else)."""

from __future__ import annotations

from typing import Any, NamedTuple

from chalicelib.core import aws

SQS_MAX_DELAY = 900  # seconds: a longer wait goes through the DUE index (repo.py)


class Message(NamedTuple):
    delivery_id: str
    seq: int
    delay: float = 0.0  # seconds before SQS shows it
    webhook_id: str = ""
    owner: str = ""


def message(item: dict[str, Any], seq: int, delay: float = 0.0) -> Message:
    """The message for a delivery item's slot `seq`."""
    return Message(str(item["id"]), seq, delay, str(item.get("webhookId") or ""),
                   str(item.get("owner") or ""))


def parse(body: Any) -> Message:
    """A message body; raises ValueError when it is not a delivery message."""
    from chalicelib.events.messages import DeliveryMessage

    msg = DeliveryMessage.parse(body)
    return Message(msg.delivery_id, msg.seq, 0.0, msg.webhook_id, msg.owner)


def body(msg: Message) -> str:
    # Imported here: the API imports this module (redeliver), and pays no model for it.
    from chalicelib.events.messages import DeliveryMessage

    named = {"webhook_id": msg.webhook_id, "owner": msg.owner} if msg.webhook_id else {}
    return str(DeliveryMessage(delivery_id=msg.delivery_id, seq=msg.seq, **named).body())


def enqueue(messages: list[Message]) -> None:
    """To the webhooks queue. SQS delays are whole seconds: rounded, since an arrival up
    to attempt.EARLY_SLACK early is still attempted."""
    if not messages:
        return
    refused = aws.send_batches("webhooks", [
        {"MessageBody": body(m), "DelaySeconds": max(0, min(SQS_MAX_DELAY, round(m.delay)))}
        for m in messages])
    if refused:
        raise RuntimeError(f"SQS refused {len(refused)} message(s)")
