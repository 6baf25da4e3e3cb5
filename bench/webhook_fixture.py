"""The webhook engine benchmarks' fixture: a webhook to the receiver, pending deliveries
as fan-out makes them (queue records), and the delivery handler run over them."""

from __future__ import annotations

import json
from typing import Any


class Fixture:
    """A webhook of the admin user to the receiver, and pending deliveries made by
    fan-out, as queue records (the messages fan-out sent)."""

    def __init__(self, url: str) -> None:
        from chalicelib.auth.users import service as users
        from chalicelib.core.principal import Principal
        from chalicelib.webhooks import service
        from chalicelib.webhooks.models import CreateWebhook

        admin_user = users.user_by_name("admin")
        assert admin_user is not None
        # Fan-out sends only what a webhook's owner may read now: the owner must exist.
        actor = Principal("client", "admin", str(admin_user["userId"]), frozenset({"admin"}))
        self.hook_id = service.create(actor, CreateWebhook(url=url,
                                                           events=["product.created"]))["id"]
        self.made = 0

    def records(self, n: int) -> list[dict[str, Any]]:
        """n new deliveries, their messages taken off the webhooks queue."""
        from chalicelib.core import aws
        from chalicelib.events import outbox
        from chalicelib.webhooks import worker

        for start in range(0, n, 10):
            events = [outbox.new_event("product.created", {"id": f"prd_{self.made + i}"})
                      for i in range(min(10, n - start))]
            self.made += len(events)
            assert worker.fan_out_batch({"Records": [
                {"messageId": e["id"], "body": json.dumps(e)} for e in events]}) == {
                "batchItemFailures": []}
        sqs, url = aws.client("sqs"), aws.queue_url("webhooks")
        records: list[dict[str, Any]] = []
        while len(records) < n:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            assert got, f"{len(records)} of {n} messages on the queue"
            for m in got:
                records.append({"messageId": m["MessageId"], "body": m["Body"]})
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return records


def deliver(records: list[dict[str, Any]], size: int = 10) -> None:
    from chalicelib.webhooks import worker

    for start in range(0, len(records), size):
        result = worker.deliver_batch({"Records": records[start:start + size]})
        assert result == {"batchItemFailures": []}, result


def delivered(records: list[dict[str, Any]]) -> int:
    from chalicelib.webhooks.delivery import repo

    found = repo.batch_get([json.loads(r["body"])["deliveryId"] for r in records])
    return sum(1 for i in found.values() if i["status"] == "delivered")
