"""The queue message formats (events/messages.py): what the producers send today parses,
round-trips to the same JSON, and what is not a message is refused."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError


def test_an_outbox_event_round_trips():
    from chalicelib.events import outbox
    from chalicelib.events.messages import EventMessage

    for event in (outbox.new_event("customer.created", {"id": "cus_1"}, owner="u1"),
                  outbox.new_event("webhook.test", {}, webhook_id="wh_1", sandbox=True),
                  outbox.new_event("customer.updated", {"email": "a@b.c"}, subject="cus_1",
                                   personal={"email": "a@b.c"})):
        sent = json.dumps(event)  # what outbox.publish sends
        msg = EventMessage.parse(sent)
        assert msg.as_dict() == event and msg.body() == sent
        assert msg.id == event["id"] and msg.webhook_id == event["webhookId"]
        assert msg.sandbox is event["sandbox"]


def test_an_event_from_an_older_or_newer_producer_is_accepted():
    from chalicelib.events.messages import EventMessage

    old = EventMessage.parse('{"id": "evt_1", "event": "x.y", "timestamp": "t", "data": {}}')
    assert (old.owner, old.sandbox, old.webhook_id, old.personal) == ("", False, "", {})
    assert old.as_dict() == {"id": "evt_1", "event": "x.y", "timestamp": "t", "data": {}}
    new = EventMessage.parse('{"id": "evt_2", "event": "x.y", "timestamp": "t", "data": {},'
                             ' "traceId": "abc"}')
    assert new.as_dict()["traceId"] == "abc"


@pytest.mark.parametrize("body", [
    "not json", "[]", '{"id": "evt_1"}', '{"event": "x", "timestamp": "t", "data": {}}',
    '{"id": "", "event": "x", "timestamp": "t", "data": {}}',
    '{"id": "evt_1", "event": "x", "timestamp": "t", "data": "text"}',
    '{"deliveryId": "dlv_1", "seq": 0}',
])
def test_what_is_not_an_event_is_refused(body):
    from chalicelib.events.messages import EventMessage

    with pytest.raises(ValueError):
        EventMessage.parse(body)


def test_a_delivery_message_round_trips():
    from chalicelib.events.messages import DeliveryMessage

    sent = json.dumps({"deliveryId": "dlv_1", "seq": 3})  # what delivery/queue.py sends
    msg = DeliveryMessage.parse(sent)
    assert (msg.delivery_id, msg.seq) == ("dlv_1", 3)
    assert DeliveryMessage(delivery_id="dlv_1", seq=3).body() == sent
    assert DeliveryMessage.parse(b'{"deliveryId": 7, "seq": "2"}').delivery_id == "7"


@pytest.mark.parametrize("body", [
    "", "{}", '{"deliveryId": "dlv_1"}', '{"seq": 1}', '{"deliveryId": "", "seq": 1}',
    '{"deliveryId": "dlv_1", "seq": -1}', '{"deliveryId": "dlv_1", "seq": "x"}',
])
def test_what_is_not_a_delivery_message_is_refused(body):
    from chalicelib.events.messages import DeliveryMessage

    with pytest.raises(ValidationError):
        DeliveryMessage.parse(body)
