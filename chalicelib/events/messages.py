"""The two queue message formats, as pydantic models: what producers send and what the
workers accept, declared once.

  events queue    EventMessage: an outbox event (outbox.new_event), sent by the outbox
                  and its sweeper, read by fan-out
  webhooks queue  DeliveryMessage: {"deliveryId", "seq", "webhookId", "owner"}, one per
                  attempt slot, sent by fan-out and the delivery engine, read by the
                  delivery worker

    msg = EventMessage.parse(record.body)       # raises ValueError when it is not one
    msg.as_dict()                                # the event as it was sent
    DeliveryMessage(delivery_id=d, seq=s).body() # the SQS message body

`parse` raises pydantic's ValidationError (a ValueError) for a body that is not JSON or
not the format: under Powertools' BatchProcessor that marks the record failed, as a
hand-written check did. Plain pydantic rather than Powertools Parser's SqsRecordModel:
that module imports a model for every AWS event source (about 0.3 s here) and the
workers already take the body from BatchProcessor's record.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# defer_build: validators are built on first use, not during every cold start.
_CONFIG = ConfigDict(populate_by_name=True, defer_build=True)


class _Message(BaseModel):
    model_config = _CONFIG

    @classmethod
    def parse(cls, body: str | bytes) -> Any:
        return cls.model_validate_json(body)

    def as_dict(self) -> dict[str, Any]:
        """The fields as sent (wire names; fields the sender left out stay out)."""
        return self.model_dump(by_alias=True, exclude_unset=True)

    def body(self) -> str:
        return json.dumps(self.as_dict())


class EventMessage(_Message):
    """An event on the events queue: the public part (id, event, timestamp, data) plus
    the routing fields fan-out reads and strips (owner, sandbox, webhookId) and, for an
    event that carries a person's data, whose it is and what erasing them rewrites
    (subject, personal: see privacy.py)."""

    # Unknown fields are kept: a newer producer's message survives an older worker.
    model_config = ConfigDict(**_CONFIG, extra="allow")

    id: str = Field(min_length=1)
    event: str = Field(min_length=1)
    timestamp: str
    data: dict[str, Any]
    owner: str = ""
    sandbox: bool = False
    webhook_id: str = Field("", alias="webhookId")
    subject: str = ""
    personal: dict[str, Any] = Field(default_factory=dict)


class DeliveryMessage(_Message):
    """An attempt slot on the webhooks queue: seq is the delivery's attemptCount when
    the message was sent (a stale slot is recognised by it); webhookId and owner, as the
    delivery names them, let a batch read everything it needs at once (absent from
    messages of older versions)."""

    model_config = ConfigDict(**_CONFIG, extra="ignore", coerce_numbers_to_str=True)

    delivery_id: str = Field(alias="deliveryId", min_length=1)
    seq: int = Field(ge=0)
    webhook_id: str = Field("", alias="webhookId")
    owner: str = ""
