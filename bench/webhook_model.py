"""The MODEL store of the webhook engine bench: DynamoDB, SQS and Secrets Manager calls
answered from memory after a fixed wait and no CPU (botocore still builds, signs and
parses each call); and the same store's reads and writes answered at its own API, with
no SDK at all. A model of a network-bound store, not a measurement of AWS."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.webhook_fixture import Fixture

STORE_WAIT = 0.005  # the model store's answer time (seconds)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class ModelStore:
    """Answers DynamoDB, SQS and Secrets Manager calls from memory after STORE_WAIT of
    sleeping (no CPU). Reads answer the items it was given; writes succeed."""

    def __init__(self, items: dict[tuple[str, str], dict[str, Any]], secret: str) -> None:
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        self.items = {k: {a: ser.serialize(v) for a, v in item.items()}
                      for k, item in items.items()}
        self.secret = secret
        self.wait = STORE_WAIT
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def attach(self) -> None:
        from chalicelib.core import aws

        for client in (aws.client("dynamodb"), aws.resource("dynamodb").meta.client,
                       aws.client("sqs"), aws.client("secretsmanager")):
            client.meta.events.register_first("before-send", self.answer)

    def answer(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        target = request.headers.get("X-Amz-Target") or b""
        op = (target.decode() if isinstance(target, bytes) else str(target)).rsplit(".", 1)[-1]
        body = json.loads(request.body or b"{}")
        with self._lock:
            self.calls[op] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.wait:
                time.sleep(self.wait)  # the network and the store: waiting, no CPU
        finally:
            with self._lock:
                self.in_flight -= 1
        out = json.dumps(self._reply(op, body)).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"},
                           _Raw(out))  # type: ignore[arg-type]

    def _reply(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        if op == "BatchGetItem":
            found = {}
            for table, asked in body["RequestItems"].items():
                keys = [(k["PK"]["S"], k["SK"]["S"]) for k in asked["Keys"]]
                found[table] = [self.items[k] for k in keys if k in self.items]
            return {"Responses": found, "UnprocessedKeys": {}}
        if op == "GetItem":
            key = (body["Key"]["PK"]["S"], body["Key"]["SK"]["S"])
            return {"Item": self.items[key]} if key in self.items else {}
        if op == "Query":
            return {"Items": [], "Count": 0, "ScannedCount": 0}
        if op == "SendMessageBatch":
            return {"Successful": [
                {"Id": e["Id"], "MessageId": e["Id"],
                 "MD5OfMessageBody": hashlib.md5(e["MessageBody"].encode()).hexdigest()}  # noqa: S324
                for e in body["Entries"]], "Failed": []}
        if op == "GetSecretValue":
            return {"Name": body.get("SecretId"), "SecretString": self.secret}
        if body.get("ReturnValues", "NONE") != "NONE" and "Key" in body:
            key = (body["Key"]["PK"]["S"], body["Key"]["SK"]["S"])
            return {"Attributes": self.items.get(key, body["Key"])}
        return {}  # UpdateItem, PutItem, DeleteItem, TransactWriteItems: done


def model_records(fx: Fixture, n: int) -> tuple[list[dict[str, Any]],
                                               dict[tuple[str, str], Any]]:
    """n pending deliveries as fan-out makes them, their messages, and what the
    invocation reads (the deliveries, the webhook and its owner), kept in memory only:
    the model store answers with them."""
    from chalicelib.auth.owners import user_key
    from chalicelib.events import outbox
    from chalicelib.store import table as store
    from chalicelib.webhooks import repo as webhooks
    from chalicelib.webhooks.delivery import queue, repo

    hook = store.get(*webhooks.key(fx.hook_id), consistent=True)
    assert hook is not None
    owner = store.get(*user_key(str(hook["owner"])), consistent=True)
    assert owner is not None
    items: dict[tuple[str, str], Any] = {webhooks.key(fx.hook_id): hook,
                                         user_key(str(hook["owner"])): owner}
    records = []
    for i in range(n):
        event = outbox.new_event("product.created", {"id": f"prd_model_{i}"})
        item = repo.new_item(event, hook, json.dumps(outbox.public_body(event)))
        items[repo.key(item["id"])] = item
        records.append({"messageId": f"m{i}", "body": queue.body(queue.message(item, 0))})
    return records, items


@contextmanager
def without_sdk(items: dict[tuple[str, str], Any]) -> Iterator[None]:
    """store's reads and writes answered from memory at its own API: no botocore."""
    from chalicelib.store import table as store

    real = store.batch_get, store.update

    def batch_get(keys: list[tuple[str, str]], consistent: bool = False) -> dict[Any, Any]:
        return {k: dict(items[k]) for k in keys if k in items}

    def update(*_: Any, returns: bool = True, **__: Any) -> dict[str, Any]:
        return {}

    store.batch_get, store.update = batch_get, update  # type: ignore[assignment]
    try:
        yield
    finally:
        store.batch_get, store.update = real  # type: ignore[assignment]
