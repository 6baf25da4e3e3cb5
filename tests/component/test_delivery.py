"""Webhook delivery against a real loopback receiver: the worker's functions called with
real SQS event dicts, webhooks created through the API, moto for DynamoDB and SQS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.component.helpers import set_env
from tests.webhook_receiver import Action, Receiver

SCHEDULE = "10,20,30"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1,localhost",
            GATEHOUSE_WEBHOOK_RETRY_SCHEDULE=SCHEDULE)



def create_hook(admin: Any, url: str, **extra: Any) -> dict[str, Any]:
    body = {"url": url, "events": ["product.created"], **extra}
    resp = admin.post("/api/v1/webhooks", body)
    assert resp.status_code == 201, resp.body
    return dict(resp.json["data"])


def record(body: Any) -> dict[str, Any]:
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps(body),
            "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}


def publish(event_type: str = "product.created", data: Any = None, **kw: Any) -> dict:
    """An event as the events queue carries it, fanned out directly."""
    from chalicelib.events import outbox
    from chalicelib.webhooks import worker

    event = outbox.new_event(event_type, data or {"id": "prd_1", "name": "Lamp"}, **kw)
    assert worker.fan_out_batch({"Records": [record(event)]}) == {"batchItemFailures": []}
    return event


def drain() -> list[dict[str, Any]]:
    """Every visible message of the webhooks queue, deleted."""
    import boto3

    from chalicelib.core.aws import queue_url

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = queue_url("webhooks")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def deliver_queued() -> dict[str, Any]:
    from chalicelib.webhooks import worker

    return worker.deliver_batch({"Records": [record(m) for m in drain()]})


def only_delivery(hook_id: str) -> dict[str, Any]:
    from chalicelib.store import table as store

    items, _ = store.query_page(f"WEBHOOK#{hook_id}#DLV", index="GSI1", limit=10)
    assert len(items) == 1, items
    return items[0]


def run_due(did: str) -> dict[str, Any]:
    """Moves the clock to the delivery's next attempt and runs it (as its delayed
    message would)."""
    from chalicelib.core import clock
    from chalicelib.webhooks import worker
    from chalicelib.webhooks.delivery import repo

    item = repo.get(did)
    assert item and item["status"] == "pending" and item["nextAttemptAt"]
    clock.advance(max(0.0, clock.parse_iso(item["nextAttemptAt"]) - clock.now()) + 0.01)
    drain()  # the delayed message (moto keeps real time); the same (id, seq) below
    result = worker.deliver_batch({"Records": [record(
        {"deliveryId": did, "seq": item["attemptCount"]})]})
    assert result == {"batchItemFailures": []}
    got = repo.get(did)
    assert got is not None
    return got


def test_success_signed_per_both_schemes(admin, env, receiver):
    hook = create_hook(admin, receiver.url, headers={"Authorization": "Bearer rcv-token"})
    event = publish()
    assert deliver_queued() == {"batchItemFailures": []}
    [req] = receiver.wait_for(1)
    body = req.body
    assert json.loads(body) == {"id": event["id"], "event": "product.created",
                                "timestamp": event["timestamp"],
                                "data": {"id": "prd_1", "name": "Lamp"}}
    # Standard Webhooks, checked by its own reference library.
    Webhook(hook["secret"]).verify(body, req.headers)
    assert req.headers["webhook-id"] == event["id"]
    ts = req.headers["webhook-timestamp"]
    key = base64.b64decode(hook["secret"].removeprefix("whsec_"))
    expected = hmac.new(key, f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    assert req.headers["x-webhook-signature"] == f"sha256={expected}"
    assert req.headers["x-webhook-timestamp"] == ts
    assert req.headers["x-webhook-event"] == "product.created"
    assert req.headers["x-webhook-attempt"] == "1"
    assert req.headers["user-agent"] == "Gatehouse-Webhooks/1.0"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"] == "Bearer rcv-token"
    item = only_delivery(hook["id"])
    assert item["status"] == "delivered" and item["nextAttemptAt"] is None
    assert "GSI2PK" not in item  # off the DUE index
    [att] = item["attempts"]
    assert att["status"] == 200 and att["responseBody"] == "ok" and att["error"] is None
    logged = att["requestHeaders"]
    assert logged["Authorization"] == logged["webhook-signature"] == "[redacted]"
    assert logged["X-Webhook-Signature"] == "[redacted]"
    assert logged["webhook-id"] == event["id"]
    assert "rcv-token" not in json.dumps(item)


def test_500_then_success_on_retry_same_webhook_id(admin, env, receiver):
    from chalicelib.core import clock

    hook = create_hook(admin, receiver.url)
    receiver.script = [Action(500, body="boom"), Action(200)]
    publish()
    before = clock.now()
    deliver_queued()
    item = only_delivery(hook["id"])
    assert item["status"] == "pending" and item["attemptCount"] == 1
    wait = clock.parse_iso(item["nextAttemptAt"]) - before
    assert 10 * 0.8 - 0.1 <= wait <= 10 * 1.2 + 1  # first delay of the schedule, jittered
    assert item["attempts"][0]["status"] == 500
    assert item["attempts"][0]["responseBody"] == "boom"
    assert item["attempts"][0]["nextAttemptAt"] == item["nextAttemptAt"]
    done = run_due(item["id"])
    assert done["status"] == "delivered" and done["attemptCount"] == 2
    first, second = receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.headers["x-webhook-attempt"] == "2"
    Webhook(hook["secret"]).verify(second.body, second.headers)


def test_retries_end_in_failed_then_redeliver(admin, env, receiver):
    hook = create_hook(admin, receiver.url, retryCount=2)
    receiver.default = Action(503)
    publish()
    deliver_queued()
    did = only_delivery(hook["id"])["id"]
    run_due(did)
    last = run_due(did)
    assert last["status"] == "failed" and last["nextAttemptAt"] is None
    assert len(last["attempts"]) == 3 and "GSI2PK" not in last
    assert len(receiver.requests) == 3
    # Kept for redelivery: a new cycle through the API.
    receiver.default = Action(200)
    resp = admin.post(f"/api/v1/webhooks/{hook['id']}/redeliver/{did}")
    assert resp.status_code == 202, resp.body
    assert resp.json["data"]["status"] == "pending"
    deliver_queued()
    from chalicelib.webhooks.delivery import repo

    again = repo.get(did)
    assert again["status"] == "delivered" and len(again["attempts"]) == 4
    assert receiver.requests[-1].headers["x-webhook-attempt"] == "4"


def test_410_disables_the_webhook(admin, env, receiver):

    hook = create_hook(admin, receiver.url)
    receiver.default = Action(410)
    publish()
    deliver_queued()
    item = only_delivery(hook["id"])
    assert item["status"] == "failed" and "410" in item["reason"]
    got = admin.get(f"/api/v1/webhooks/{hook['id']}").json["data"]
    assert got["status"] == "disabled" and got["active"] is False
    assert "webhook.disabled" in outbox_kinds()
    # Later events are not delivered to it.
    publish()
    assert drain() == []


def test_429_retry_after_seconds_and_date(admin, env, receiver):
    from email.utils import formatdate

    from chalicelib.core import clock

    hook = create_hook(admin, receiver.url)
    receiver.script = [Action(429, headers={"Retry-After": "120"}),
                       Action(503, headers={"Retry-After": formatdate(clock.now() + 600,
                                                                      usegmt=True)}),
                       Action(429, headers={"Retry-After": "999999"})]
    publish()
    t0 = clock.now()
    deliver_queued()
    item = only_delivery(hook["id"])
    assert 119 <= clock.parse_iso(item["nextAttemptAt"]) - t0 <= 122
    item = run_due(item["id"])
    assert item["attempts"][-1]["status"] == 503

    def waited(it):
        return clock.parse_iso(it["nextAttemptAt"]) - clock.parse_iso(it["attempts"][-1]["at"])

    # An HTTP-date ten minutes after the script was written (120 s ago on the clock).
    assert 600 - 125 <= waited(item) <= 605
    item = run_due(item["id"])
    # Bounded: at most an hour, even when the receiver asks for days.
    assert 3590 <= waited(item) <= 3601
    assert item["GSI2SK"].startswith(item["nextAttemptAt"])  # > 15 min: on the DUE index


def test_hanging_receiver_times_out_and_backs_off(admin, env, receiver):
    from chalicelib.core import clock

    hook = create_hook(admin, receiver.url, timeoutSeconds=1)
    receiver.script = [Action(200, delay=3)]
    publish()
    t0 = clock.now()
    deliver_queued()
    item = only_delivery(hook["id"])
    att = item["attempts"][0]
    assert att["status"] is None and "timed out" in att["error"]
    assert 900 <= att["durationMs"] < 2500
    # Twice the scheduled 10 s (+-20%).
    assert 16 - 0.1 <= clock.parse_iso(item["nextAttemptAt"]) - t0 <= 24 + 2.5


def test_connection_reset_is_a_failed_attempt(admin, env, receiver):
    hook = create_hook(admin, receiver.url)
    receiver.script = [Action(reset=True)]
    publish()
    deliver_queued()
    item = only_delivery(hook["id"])
    att = item["attempts"][0]
    assert att["status"] is None and att["error"]
    assert item["status"] == "pending"


def test_redirect_to_private_address_not_followed(admin, env, receiver):
    hook = create_hook(admin, receiver.url)
    receiver.default = Action(302, headers={"Location": "http://169.254.169.254/latest/"})
    publish()
    deliver_queued()
    item = only_delivery(hook["id"])
    att = item["attempts"][0]
    assert att["status"] == 302 and att["error"] == "redirect not followed"
    assert item["status"] == "pending"
    assert len(receiver.requests) == 1


def test_target_checked_again_at_each_attempt(admin, env, receiver, monkeypatch):
    hook = create_hook(admin, receiver.url)
    publish()
    # The escape hatch is withdrawn after registration: the attempt refuses to connect.
    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="")
    deliver_queued()
    item = only_delivery(hook["id"])
    assert item["attempts"][0]["error"].startswith("refused:")
    assert receiver.requests == []


def test_connects_only_to_the_checked_address(admin, env, receiver, monkeypatch):
    """The name resolves to the checked address once; a rebinding lookup afterwards is
    never used: the connection goes to the address that was checked."""
    import socket


    hook = create_hook(admin, f"http://localhost:{receiver.port}/hooks")
    publish()
    calls = []
    real = socket.getaddrinfo

    def rebinding(host, *args, **kw):
        calls.append(host)
        if host == "localhost" and len(calls) > 1:
            raise AssertionError("a second lookup of the name")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    deliver_queued()
    assert only_delivery(hook["id"])["status"] == "delivered"
    [req] = receiver.requests
    assert req.headers["host"] == f"localhost:{receiver.port}"


def test_rotation_sends_both_signatures(admin, env, receiver):
    hook = create_hook(admin, receiver.url)
    resp = admin.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", {"overlapHours": 24})
    assert resp.status_code == 200, resp.body
    new_secret = resp.json["data"]["secret"]
    publish()
    deliver_queued()
    [req] = receiver.wait_for(1)
    assert len(req.headers["webhook-signature"].split(" ")) == 2
    Webhook(new_secret).verify(req.body, req.headers)
    Webhook(hook["secret"]).verify(req.body, req.headers)
    key = base64.b64decode(new_secret.removeprefix("whsec_"))
    ts = req.headers["webhook-timestamp"]
    assert req.headers["x-webhook-signature"] == "sha256=" + hmac.new(
        key, f"{ts}.{req.body}".encode(), hashlib.sha256).hexdigest()


def test_payload_fields_trim(admin, env, receiver):
    create_hook(admin, receiver.url, payloadFields=["id", "price.amount", "tags.name"])
    publish(data={"id": "prd_9", "name": "secret name", "price": {"amount": 5, "cur": "EUR"},
                  "tags": [{"name": "a", "x": 1}, {"name": "b", "x": 2}]})
    deliver_queued()
    [req] = receiver.wait_for(1)
    assert json.loads(req.body)["data"] == {"id": "prd_9", "price": {"amount": 5},
                                            "tags": [{"name": "a"}, {"name": "b"}]}


def test_fan_out_idempotent_and_scoped(admin, env, receiver):
    from chalicelib.webhooks import worker

    hook = create_hook(admin, receiver.url)
    other = create_hook(admin, receiver.url, events=["order.created"])
    star = create_hook(admin, receiver.url, events=["*"])
    event = publish()
    # The same event again (outbox sweeper, SQS redelivery): nothing new.
    assert worker.fan_out_batch({"Records": [record(event)]}) == {"batchItemFailures": []}
    assert deliver_queued() == {"batchItemFailures": []}
    assert len(receiver.requests) == 2  # hook and star, once each
    only_delivery(hook["id"])
    only_delivery(star["id"])
    from chalicelib.store import table as store

    assert store.query_page(f"WEBHOOK#{other['id']}#DLV", index="GSI1")[0] == []
    # A platform event of another owner reaches none of them; sandbox events neither.
    publish(owner="usr_someone_else")
    publish(sandbox=True)
    assert drain() == []


def test_paused_webhook_holds_then_resumes(admin, env, receiver):
    from chalicelib.webhooks import worker
    from chalicelib.webhooks.delivery import repo

    hook = create_hook(admin, receiver.url)
    publish()
    queued = drain()
    resp = admin.put(f"/api/v1/webhooks/{hook['id']}", {"active": False})
    assert resp.status_code == 200, resp.body
    # New events skip it; the delivery made before the pause waits.
    publish()
    assert drain() == []
    worker.deliver_batch({"Records": [record(m) for m in queued]})
    item = only_delivery(hook["id"])
    assert item["status"] == "pending" and item["attemptCount"] == 0 and item["heldSince"]
    assert receiver.requests == []
    # A test event is sent even while paused.
    assert admin.post(f"/api/v1/webhooks/{hook['id']}/test").status_code == 202
    assert admin.put(f"/api/v1/webhooks/{hook['id']}", {"active": True}).status_code == 200
    from chalicelib.core import clock

    clock.advance(61)
    assert worker.every_minute()["deliveries"]["due"] >= 1
    assert deliver_queued() == {"batchItemFailures": []}
    assert repo.get(item["id"])["status"] == "delivered"


def test_deleted_webhook_cancels(admin, env, receiver):
    from chalicelib.webhooks.delivery import repo

    hook = create_hook(admin, receiver.url)
    publish()
    did = only_delivery(hook["id"])["id"]
    assert admin.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    deliver_queued()
    item = repo.get(did)
    assert item["status"] == "cancelled" and item["reason"] == "webhook deleted"
    assert receiver.requests == []


def test_poison_messages_are_batch_failures(admin, env, receiver):
    from chalicelib.webhooks import worker

    hook = create_hook(admin, receiver.url)
    publish()
    good = drain()
    bad1, bad2 = record("not an object"), record({"deliveryId": "dlv_missing", "seq": 0})
    bad3 = {"messageId": "m3", "body": "{not json"}
    result = worker.deliver_batch({"Records": [bad1, bad2, bad3, *map(record, good)]})
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(
        [bad1["messageId"], bad2["messageId"], "m3"])
    assert only_delivery(hook["id"])["status"] == "delivered"
    from chalicelib.events import outbox

    ok = record(outbox.new_event("product.created", {"id": "prd_9"}))
    assert worker.fan_out_batch({"Records": [bad3, ok]}) == {
        "batchItemFailures": [{"itemIdentifier": "m3"}]}
    # Every message failed: the invocation fails (Powertools), so SQS retries the batch.
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):
        worker.fan_out_batch({"Records": [bad3]})
    with pytest.raises(BatchProcessingError):
        worker.deliver_batch({"Records": [bad1, bad2]})


def test_long_wait_goes_through_the_due_index(admin, env, receiver):
    from chalicelib.core import clock
    from chalicelib.webhooks import worker
    from chalicelib.webhooks.delivery import repo

    hook = create_hook(admin, receiver.url, retrySchedule=[3600])
    receiver.script = [Action(500)]
    publish()
    deliver_queued()
    item = only_delivery(hook["id"])
    assert drain() == []  # no SQS message for a wait over 15 minutes
    due = clock.parse_iso(item["nextAttemptAt"])
    assert item["GSI2PK"] == "DUE"
    clock.advance(due - clock.now() - 600)
    assert worker.every_minute()["deliveries"]["due"] == 0
    clock.advance(600 - 30)  # within the sweep's look-ahead: sent with the remaining delay
    assert worker.every_minute()["deliveries"]["due"] == 1
    # Sent with the remaining ~30 s as its SQS delay.
    assert queue_counts() == {"ApproximateNumberOfMessages": "0",
                              "ApproximateNumberOfMessagesDelayed": "1"}
    clock.advance(31)
    worker.deliver_batch({"Records": [record({"deliveryId": item["id"], "seq": 1})]})
    assert repo.get(item["id"])["status"] == "delivered"


def queue_counts() -> dict[str, str]:
    from chalicelib.core import aws
    from chalicelib.core.aws import queue_url

    return dict(aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url("webhooks"), AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"])["Attributes"])


def outbox_kinds() -> list[str]:
    from chalicelib.store import table as store

    return [json.loads(i["event"])["event"] for i in store.table().scan()["Items"]
            if str(i["PK"]).startswith("OUTBOX#")]


def test_stuck_delivery_is_taken_back(admin, env, receiver):
    from chalicelib.core import clock
    from chalicelib.webhooks import service, worker
    from chalicelib.webhooks.delivery import attempt, repo

    hook = create_hook(admin, receiver.url)
    publish()
    [msg] = drain()
    did = msg["deliveryId"]
    # A worker claims the attempt and dies before any outcome.
    job = attempt.Job("m", did, 0, repo.get(did), service.get_webhook(hook["id"]),
                      owner_scopes=frozenset({"products:read"}))
    attempt.prepare(job)
    assert repo.get(did)["status"] == "delivering"
    clock.advance(200)
    assert worker.every_minute()["deliveries"]["stuck"] == 0
    clock.advance(120)
    assert worker.every_minute()["deliveries"]["stuck"] == 1
    item = repo.get(did)
    assert item["status"] == "pending" and "lost" in item["attempts"][0]["error"]
    assert deliver_queued() == {"batchItemFailures": []}
    assert repo.get(did)["status"] == "delivered"


def test_lost_message_is_resent_by_the_sweep(admin, env, receiver):
    from chalicelib.core import clock
    from chalicelib.webhooks import worker
    from chalicelib.webhooks.delivery import repo, watchdog

    hook = create_hook(admin, receiver.url)
    publish()
    drain()  # the message is lost
    clock.advance(repo.LOST_AFTER - watchdog.SWEEP_AHEAD + 1)
    assert worker.every_minute()["deliveries"]["due"] == 1
    deliver_queued()
    assert only_delivery(hook["id"])["status"] == "delivered"


def test_a_batch_reads_once_and_writes_twice_per_delivery(admin, env, receiver):
    """A batch of a healthy webhook: one BatchGetItem for its deliveries, their webhook
    and its owner (the messages name them), two writes per delivery (claim, outcome) and
    none for the webhook's health. A message that does not name them (sent by an older
    version) costs a second read, and is delivered all the same."""
    from chalicelib.core import aws
    from chalicelib.webhooks import worker

    hook = create_hook(admin, receiver.url)
    for i in range(3):
        publish(data={"id": f"prd_{i}"})
    messages = drain()
    assert {m["webhookId"] for m in messages} == {hook["id"]}
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    hooks = [aws.client("dynamodb").meta.events,
             aws.resource("dynamodb").meta.client.meta.events]
    for events in hooks:
        events.register("before-call.dynamodb.*", count)
    try:
        assert worker.deliver_batch({"Records": [record(m) for m in messages]}) == {
            "batchItemFailures": []}
        assert sorted(calls) == ["BatchGetItem"] + ["UpdateItem"] * 6, calls
        publish(data={"id": "prd_old"})
        [old] = drain()
        calls.clear()
        assert worker.deliver_batch({"Records": [record(
            {"deliveryId": old["deliveryId"], "seq": 0})]}) == {"batchItemFailures": []}
        assert sorted(calls) == ["BatchGetItem"] * 2 + ["UpdateItem"] * 2, calls
    finally:
        for events in hooks:
            events.unregister("before-call.dynamodb.*", count)
    assert len(receiver.requests) == 4


def test_delivery_outcomes_are_counted_as_metrics(admin, env, receiver, capsys):
    from chalicelib.core import metrics
    from chalicelib.core.logging import get_logger

    get_logger()  # writes to the stdout of its creation: before capsys reads it
    create_hook(admin, receiver.url)
    receiver.script = [Action(500)]
    publish(data={"id": "prd_1"})
    publish(data={"id": "prd_2"})
    metrics.flush()
    capsys.readouterr()
    assert deliver_queued() == {"batchItemFailures": []}
    assert metrics.flush() == 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{") and '"_aws"' in line]
    assert {line["outcome"]: line["WebhookDelivery"] for line in lines} == {
        "retrying": [1.0], "delivered": [1.0]}


def test_stale_and_duplicate_messages_attempt_once(admin, env, receiver):
    from chalicelib.webhooks import worker

    hook = create_hook(admin, receiver.url)
    publish()
    [msg] = drain()
    worker.deliver_batch({"Records": [record(msg), record(msg)]})
    worker.deliver_batch({"Records": [record(msg)]})
    assert len(receiver.requests) == 1
    assert only_delivery(hook["id"])["attemptCount"] == 1


def test_concurrent_batch(admin, env, receiver):
    create_hook(admin, receiver.url)
    receiver.default = Action(200, delay=0.3)
    for i in range(10):
        publish(data={"id": f"prd_{i}"})
    assert deliver_queued() == {"batchItemFailures": []}
    assert len(receiver.requests) == 10
    # The receiver saw the batch's attempts overlap (one after another it would see one
    # at a time), whatever the machine's speed.
    assert receiver.max_in_flight >= 5, receiver.max_in_flight


def test_next_delay_policy():
    from chalicelib.webhooks.delivery.retry import next_delay
    from chalicelib.webhooks.delivery.transport import Outcome, parse_retry_after

    hook = {"retrySchedule": [60, 300]}
    assert next_delay(hook, 1, Outcome(500), lambda a, b: 1.0) == 60
    assert next_delay(hook, 2, Outcome(500), lambda a, b: 1.2) == 360
    assert next_delay(hook, 5, Outcome(500), lambda a, b: 0.8) == 240  # the last repeats
    assert next_delay(hook, 1, Outcome(None, timed_out=True), lambda a, b: 1.0) == 120
    assert next_delay(hook, 1, Outcome(429), lambda a, b: 1.0) == 120
    assert next_delay(hook, 1, Outcome(429, retry_after=10), lambda a, b: 1.0) == 120
    assert next_delay(hook, 1, Outcome(503, retry_after=900), lambda a, b: 1.0) == 900
    assert next_delay(hook, 1, Outcome(500, retry_after=900), lambda a, b: 1.0) == 60
    assert parse_retry_after("abc") is None and parse_retry_after("7") == 7


def test_deliveries_api(admin, env, receiver):
    from tests.component.helpers import assert_error
    from tests.conftest import make_user

    hook = create_hook(admin, receiver.url)
    receiver.script = [Action(500)]
    for i in range(3):
        publish(data={"id": f"prd_{i}"})
    deliver_queued()
    base = f"/api/v1/webhooks/{hook['id']}"
    resp = admin.get(f"{base}/deliveries?perPage=2")
    assert resp.status_code == 200, resp.body
    assert len(resp.json["data"]) == 2 and resp.json["pagination"]["hasMore"] is True
    rest = admin.get(f"{base}/delivery-logs?perPage=2&cursor="
                     f"{resp.json['pagination']['nextCursor']}").json["data"]
    assert len(rest) == 1
    pending = admin.get(f"{base}/deliveries?status=pending").json["data"]
    assert len(pending) == 1 and pending[0]["nextAttemptAt"]
    assert pending[0]["attempts"][0]["status"] == 500
    assert len(admin.get(f"{base}/deliveries?status=delivered,failed").json["data"]) == 2
    assert_error(admin.get(f"{base}/deliveries?status=bogus"), 400, "VALIDATION_ERROR")
    one = admin.get(f"{base}/deliveries/{pending[0]['id']}").json["data"]
    assert one["payload"]["event"] == "product.created"
    stats = admin.get(f"{base}/stats").json["data"]
    assert stats["attempts"] == 3 and stats["byStatus"]["delivered"] == 2
    assert stats["successRate"] == 1.0 and stats["latencyMs"]["p50"] is not None
    # Another owner: 404 on every route.
    bob, _ = make_user(admin, "bob-dlv", ["integrator"])
    did = pending[0]["id"]
    for method, path in (("GET", f"{base}/deliveries"), ("GET", f"{base}/delivery-logs"),
                         ("GET", f"{base}/deliveries/{did}"), ("GET", f"{base}/stats"),
                         ("POST", f"{base}/redeliver/{did}")):
        assert_error(bob.call(method, path), 404, "NOT_FOUND")
    assert_error(bob.post(f"{base}/recover", {"since": "2020-01-01T00:00:00Z"}), 404,
                 "NOT_FOUND")
    assert_error(admin.get(f"{base}/deliveries/dlv_nope"), 404, "NOT_FOUND")


def test_recover_window(admin, env, receiver):
    from chalicelib.core import clock

    hook = create_hook(admin, receiver.url, retryCount=0)
    receiver.default = Action(500)
    start = clock.iso()
    publish(data={"id": "a"})
    publish(data={"id": "b"})
    deliver_queued()
    base = f"/api/v1/webhooks/{hook['id']}"
    assert len(admin.get(f"{base}/deliveries?status=failed").json["data"]) == 2
    receiver.default = Action(200)
    resp = admin.post(f"{base}/recover", {"since": "2000-01-01T00:00:00Z", "until": start})
    assert resp.status_code == 202 and resp.json["data"]["recovered"] == 0
    resp = admin.post(f"{base}/recover", {"since": start})
    assert resp.status_code == 202 and resp.json["data"]["recovered"] == 2
    deliver_queued()
    assert len(admin.get(f"{base}/deliveries?status=delivered").json["data"]) == 2


def test_failing_endpoint_warned_then_disabled(admin, env, receiver, monkeypatch):

    from chalicelib.core import clock
    from tests.conftest import make_user

    owner_api, _user = make_user(admin, "carol-dlv", ["integrator"])
    hook = create_hook(owner_api, receiver.url, retryCount=10, retrySchedule=[10])
    receiver.default = Action(500)
    publish()
    deliver_queued()
    did = only_delivery(hook["id"])["id"]
    clock.advance(73 * 3600)
    run_due(did)
    from chalicelib.webhooks.service import get_webhook

    assert get_webhook(hook["id"])["status"] == "active"  # (the API token expired by now)
    assert outbox_kinds().count("webhook.disabling") == 1
    # Its own warning, to its owner, naming this webhook (not another test's mail).
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    mine = [m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
            if "carol-dlv@ex.com" in m.destinations.get("ToAddresses", [])
            and hook["id"] in m.body]
    assert len(mine) == 1, [m.destinations for m in
                            ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages]
    clock.advance(48 * 3600)
    run_due(did)
    assert get_webhook(hook["id"])["status"] == "disabled"
    assert outbox_kinds().count("webhook.disabled") == 1


def test_warned_endpoint_disabled_on_time_without_new_deliveries(admin, env, receiver):
    """The warning announces a disable time; the minute sweep keeps it even when no
    delivery comes after the warning. A webhook that recovered is left alone."""
    from chalicelib.core import clock
    from chalicelib.webhooks import endpoint_health, worker
    from chalicelib.webhooks.service import get_webhook

    failing = create_hook(admin, receiver.url, retryCount=1, retrySchedule=[10])
    healed = create_hook(admin, receiver.url, retryCount=1, retrySchedule=[10],
                         events=["product.updated"])
    receiver.default = Action(500)
    publish()
    publish("product.updated")
    deliver_queued()
    clock.advance(73 * 3600)
    for hook in (failing, healed):
        run_due(only_delivery(hook["id"])["id"])  # the last attempt: warned
        assert get_webhook(hook["id"])["disablingWarnedAt"]
    receiver.default = Action(200)
    publish("product.updated", {"id": "prd_2"})  # the second one succeeds again
    deliver_queued()
    assert get_webhook(healed["id"]).get("failingSince") is None

    clock.advance(46 * 3600)  # before the announced time: nothing yet
    assert worker.every_minute()["disabled"] == 0
    assert get_webhook(failing["id"])["status"] == "active"
    clock.advance(2 * 3600)  # past it: no delivery came, the sweep disables
    assert worker.every_minute()["disabled"] == 1
    assert get_webhook(failing["id"])["status"] == "disabled"
    assert get_webhook(healed["id"])["status"] == "active"
    assert outbox_kinds().count("webhook.disabled") == 1
    assert endpoint_health.sweep_warned() == 0  # the markers are gone


def test_lambda_mode_reuses_one_event_loop_across_batches(admin, env, receiver, monkeypatch):
    """In Lambda (LAMBDA_TASK_ROOT set) Powertools keeps one event loop across
    invocations: connection pools must not outlive the batch that opened them."""
    hook = create_hook(admin, receiver.url)
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    for i in range(3):
        publish(data={"id": f"prd_{i}"})
        assert deliver_queued() == {"batchItemFailures": []}
    assert len(receiver.requests) == 3
    from chalicelib.store import table as store

    items, _ = store.query_page(f"WEBHOOK#{hook['id']}#DLV", index="GSI1", limit=10)
    assert {i["status"] for i in items} == {"delivered"} and len(items) == 3


def _self_signed(tmp_path: Any, name: str) -> tuple[str, str]:
    """A certificate for `name` and its key, as PEM files."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_https_connects_to_the_checked_address_and_checks_the_name(env, tmp_path,
                                                                   monkeypatch):
    """TLS to the pinned address: the name goes in SNI and the Host header, and the
    receiver's certificate must be for that name (one for another name is refused)."""
    import asyncio
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from chalicelib.webhooks.delivery import transport

    cert, key = _self_signed(tmp_path, "localhost")
    seen: dict[str, Any] = {"sni": [], "hosts": []}
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server_tls.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)

    class Ok(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_a):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def get_request(self):
            sock, addr = super().get_request()
            return server_tls.wrap_socket(sock, server_side=True), addr

    server = Server(("127.0.0.1", 0), Ok)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(transport, "tls_context",
                        lambda: ssl.create_default_context(cafile=cert))
    reqs = [transport.Request(f"https://localhost:{port}/hooks", {}, "{}", 5),
            transport.Request(f"https://127.0.0.1:{port}/hooks", {}, "{}", 5)]

    async def send_all() -> None:
        clients = transport.Clients()
        try:
            for req in reqs:
                await transport.send(req, clients)
        finally:
            await clients.close()

    try:
        asyncio.run(send_all())
    finally:
        server.shutdown()
        server.server_close()
    named, by_address = reqs
    assert named.outcome.status == 200 and named.outcome.body == "ok", named.outcome
    assert seen["sni"][0] == "localhost" and seen["hosts"] == [f"localhost:{port}"]
    assert by_address.outcome.status is None
    assert "CERTIFICATE_VERIFY_FAILED" in str(by_address.outcome.error)


def test_attempts_per_receiver_host_are_bounded(env):
    """At most PER_HOST attempts in flight to one host (spread over small pools), however
    many a batch holds."""
    import asyncio
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from chalicelib.webhooks.delivery import transport

    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    class Slow(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_a):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
            time.sleep(0.05)
            with lock:
                state["now"] -= 1
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the listen backlog: 20 connections at once
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        reqs = [transport.Request(url, {}, "{}", 5) for _ in range(3 * transport.PER_HOST)]

        async def send_all() -> None:
            clients = transport.Clients()
            try:
                await asyncio.gather(*(transport.send(r, clients) for r in reqs))
            finally:
                await clients.close()

        asyncio.run(send_all())
    finally:
        server.shutdown()
        server.server_close()
    assert all(r.outcome.status == 204 for r in reqs), {r.outcome.error for r in reqs}
    assert transport.PER_HOST // 2 < state["max"] <= transport.PER_HOST


# -- the invocation's time budget ------------------------------------------------------

class _Context:
    """A Lambda context with a fixed remaining time."""

    def __init__(self, seconds: float) -> None:
        self.ms = int(seconds * 1000)

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


def _split_receiver(receiver: Receiver, hang: float = 8.0) -> tuple[str, str]:
    """URLs of the same receiver: /hang answers after `hang` seconds, /ok at once."""
    receiver.decide = lambda got: Action(200, delay=hang) if got.path == "/hang" else Action()
    base = receiver.url.rsplit("/", 1)[0]
    return f"{base}/hang", f"{base}/ok"


def test_a_hanging_receiver_cannot_outlast_the_invocation(admin, env, receiver):
    """With 3 s left beyond the safety margin, the attempt to a receiver that hangs for
    15 s (timeout 30 s) is cut at 3 s, the batch records every outcome before the
    invocation would end, and a repeat of the batch (as SQS would send it had the
    invocation died) sends nothing twice. (The margins are seconds apart, so that a
    loaded machine cannot pass or fail it by its speed.)"""
    import time

    from chalicelib.webhooks import worker
    from chalicelib.webhooks.delivery.batch import SAFETY_MARGIN

    hang_url, ok_url = _split_receiver(receiver, hang=15)
    hanging = create_hook(admin, hang_url, timeoutSeconds=30)
    fast = [create_hook(admin, ok_url, timeoutSeconds=30) for _ in range(2)]
    publish()
    records = [record(m) for m in drain()]
    assert len(records) == 3
    context = _Context(SAFETY_MARGIN + 3)
    started = time.monotonic()
    assert worker.deliver_batch({"Records": records}, context) == {"batchItemFailures": []}
    assert time.monotonic() - started < SAFETY_MARGIN + 3  # not the receiver's 15 s
    for hook in fast:
        assert only_delivery(hook["id"])["status"] == "delivered"
    item = only_delivery(hanging["id"])
    assert item["status"] == "pending" and item["attemptCount"] == 1  # a retry is due
    [att] = item["attempts"]
    assert "timed out after" in att["error"] and att["durationMs"] < 5000
    # The same messages again: their slots are taken, nothing is sent again.
    assert worker.deliver_batch({"Records": records}, context) == {"batchItemFailures": []}
    assert [r.path for r in receiver.requests].count("/hang") == 1
    assert len(receiver.requests) == 3


def test_no_attempt_starts_without_a_useful_budget(admin, env, receiver):
    """Less than MIN_ATTEMPT left: nothing is claimed, the message is sent again, and
    the next invocation delivers it once."""
    from chalicelib.webhooks import worker
    from chalicelib.webhooks.delivery.batch import SAFETY_MARGIN
    from chalicelib.webhooks.delivery.transport import MIN_ATTEMPT

    hook = create_hook(admin, receiver.url)
    publish()
    records = [record(m) for m in drain()]
    short = _Context(SAFETY_MARGIN + MIN_ATTEMPT / 2)
    assert worker.deliver_batch({"Records": records}, short) == {"batchItemFailures": []}
    assert receiver.requests == []
    item = only_delivery(hook["id"])
    assert item["status"] == "pending" and item["attemptCount"] == 0 and "claim" not in item
    again = drain()
    assert again == [{"deliveryId": item["id"], "seq": 0, "webhookId": hook["id"],
                      "owner": item["owner"]}]
    assert worker.deliver_batch({"Records": [record(m) for m in again]},
                                _Context(60)) == {"batchItemFailures": []}
    assert only_delivery(hook["id"])["status"] == "delivered"
    assert len(receiver.requests) == 1


def test_a_claim_left_without_budget_is_released_unsent(admin, env, receiver, monkeypatch):
    """One attempt at a time per host: the second waits behind a hanging one, and when
    its turn comes the invocation's budget is spent. It is not sent; its claim is given
    back and its message re-sent, so the next invocation attempts it once."""
    from chalicelib.webhooks import worker
    from chalicelib.webhooks.delivery import transport
    from chalicelib.webhooks.delivery.batch import SAFETY_MARGIN

    monkeypatch.setattr(transport, "PER_HOST", 1)
    hang_url, _ = _split_receiver(receiver, hang=4)
    first, second = (create_hook(admin, hang_url, timeoutSeconds=30) for _ in range(2))
    publish()
    records = [record(m) for m in drain()]
    context = _Context(SAFETY_MARGIN + 2)
    assert worker.deliver_batch({"Records": records}, context) == {"batchItemFailures": []}
    assert len(receiver.requests) == 1
    items = [only_delivery(h["id"]) for h in (first, second)]
    tried, released = sorted(items, key=lambda i: -int(i["attemptCount"]))
    assert tried["attemptCount"] == 1 and "timed out" in tried["attempts"][0]["error"]
    assert released["status"] == "pending" and released["attemptCount"] == 0
    assert released["cycleAttempt"] == 0 and "claim" not in released
    assert released["attempts"] == []
    assert (released["id"], 0) in [(m["deliveryId"], m["seq"]) for m in drain()]


def test_the_attempt_timeout_fits_the_delivery_function():
    from chalicelib.webhooks import models
    from chalicelib.webhooks.delivery import batch, transport

    assert models.DEFAULT_TIMEOUT <= 15
    assert (models.MAX_TIMEOUT + batch.SAFETY_MARGIN + transport.MIN_ATTEMPT
            < models.DELIVERY_FUNCTION_TIMEOUT)
    assert batch.remaining_seconds(None) == models.DELIVERY_FUNCTION_TIMEOUT
    assert batch.remaining_seconds(_Context(12.5)) == 12.5
