"""Integrations pushing resource events out (config.push.events): through app.py's events
handler to the pushes queue, then the push worker to a real loopback receiver (rest) or
moto's S3 (s3_drop); namespaces, pauses, scopes re-checked at delivery, retries, the
SSRF guard and idempotency per event."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.component.helpers import assert_error, set_env
from tests.component.integration_sync_helpers import V, allow_loopback
from tests.conftest import Api, make_user
from tests.webhook_receiver import Action, Receiver

BUCKET = "push-drops"
MAPPING = {"sku": "sku", "name": "name", "price": "price"}


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)




def rest_config(url: str, events: list[str], **push: Any) -> dict[str, Any]:
    return {"baseUrl": url, "resource": "products", "mapping": MAPPING,
            "push": {"path": "/events", "events": events, **push}}


def connect(api: Api, url: str, events: list[str], **extra: Any) -> Any:
    return api.post(f"{V}/integrations", {
        "type": "rest", "name": "Out", "config": rest_config(url, events),
        "credentials": {"auth": "bearer", "token": "push-token-value"}, **extra})


def connected(api: Api, url: str, events: list[str]) -> str:
    resp = connect(api, url, events)
    assert resp.status_code == 201, resp.body
    return str(resp.json["data"]["id"])


def event(event_type: str = "product.created", **kw: Any) -> dict[str, Any]:
    from chalicelib.events import outbox

    return outbox.new_event(event_type, {"id": "prd_1", "sku": "MUG-1"}, **kw)


def fan_out(api: Api, *events: dict[str, Any]) -> dict[str, Any]:
    """The events through app.py's events-queue handler, as Lambda would call it."""
    from chalicelib.core.settings import get_settings

    sqs_event = api.client.events.generate_sqs_event(
        message_bodies=[json.dumps(e) for e in events],
        queue_name=get_settings().queue_name("events"))
    return dict(api.client.lambda_.invoke("fan_out", sqs_event).payload)


def queued() -> list[dict[str, Any]]:
    """Every visible message of the pushes queue (received, not deleted)."""
    from chalicelib.core import aws

    out: list[dict[str, Any]] = []
    while True:
        got = aws.client("sqs").receive_message(QueueUrl=aws.queue_url("pushes"),
                                                MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        out += got


def run(messages: list[dict[str, Any]]) -> list[str]:
    """The messages through the push worker (one batch); the done ones deleted. Answers
    the ids of those to come again."""
    from chalicelib.core import aws
    from chalicelib.integrations import push_worker

    result = push_worker.process_batch({"Records": [
        {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"]}
        for m in messages]})
    again = [f["itemIdentifier"] for f in result["batchItemFailures"]]
    for m in messages:
        if m["MessageId"] not in again:
            aws.client("sqs").delete_message(QueueUrl=aws.queue_url("pushes"),
                                             ReceiptHandle=m["ReceiptHandle"])
    return again


def pushes(api: Api, conn: str) -> list[dict[str, Any]]:
    resp = api.get(f"{V}/integrations/{conn}/pushes")
    assert resp.status_code == 200, resp.body
    return list(resp.json["data"])


# -- the happy paths -------------------------------------------------------------------

def test_created_product_is_posted_to_the_receiver(admin: Api, receiver: Receiver) -> None:
    from tests.component.test_resources import outbox_events, product

    conn = connected(admin, receiver.url, ["product.*"])
    shown = admin.get(f"{V}/integrations/{conn}").json["data"]
    assert shown["config"]["push"] == {"path": "/events", "method": "POST",
                                       "events": ["product.*"]}
    made = product(admin, sku="MUG-7")
    assert fan_out(admin, *outbox_events()) == {"batchItemFailures": []}
    assert run(queued()) == []
    [req] = receiver.requests
    body = json.loads(req.body)
    [created] = outbox_events("product.created")
    assert body == {k: created[k] for k in ("id", "event", "timestamp", "data")}
    assert body["data"]["sku"] == made["sku"] == "MUG-7"
    assert req.path == urlsplit(receiver.url).path + "/events"
    assert req.headers["authorization"] == "Bearer push-token-value"
    assert req.headers["idempotency-key"] == created["id"]
    [logged] = pushes(admin, conn)
    assert logged["status"] == "delivered" and logged["attempts"] == 1
    assert logged["eventId"] == created["id"] and logged["result"] == {"status": 200}


def test_catalog_schema_shows_the_push_subscription(admin: Api) -> None:
    entries = {e["type"]: e for e in admin.get(f"{V}/integrations/catalog").json["data"]}
    rest_push = entries["rest"]["configSchema"]["$defs"]["PushConfig"]["properties"]
    assert "events" in rest_push
    assert "push" in entries["s3_drop"]["configSchema"]["properties"]
    assert "push" not in entries["email_ses"]["configSchema"].get("properties", {})


def test_s3_drop_gets_one_object_per_event(admin: Api, monkeypatch: Any) -> None:
    from chalicelib.core import aws

    aws.client("s3").create_bucket(Bucket=BUCKET)
    set_env(monkeypatch, GATEHOUSE_INTEGRATION_S3_BUCKETS=BUCKET)
    resp = admin.post(f"{V}/integrations", {"type": "s3_drop", "name": "drop", "config": {
        "bucket": BUCKET, "prefix": "drops", "push": {"events": ["product.created"]}}})
    assert resp.status_code == 201, resp.body
    sent = event()
    assert fan_out(admin, sent, event("product.deleted")) == {"batchItemFailures": []}
    assert run(queued()) == []
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
    key = f"drops/events/product.created/{sent['id']}.json"
    assert [o["Key"] for o in listed] == [key]
    got = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert got == {k: sent[k] for k in ("id", "event", "timestamp", "data")}


# -- who gets what ---------------------------------------------------------------------

def test_namespaces_and_pauses(admin: Api, receiver: Receiver) -> None:
    live = connected(admin, receiver.url, ["product.created"])
    assert fan_out(admin, event(sandbox=True)) == {"batchItemFailures": []}
    assert queued() == []  # a sandbox event never reaches a live connection
    paused = admin.patch(f"{V}/integrations/{live}", {"status": "paused"})
    assert paused.status_code == 200, paused.body
    assert fan_out(admin, event()) == {"batchItemFailures": []}
    assert queued() == [] and pushes(admin, live) == []
    admin.patch(f"{V}/integrations/{live}", {"status": "active"})
    fan_out(admin, event())
    waiting = queued()
    assert len(waiting) == 1
    # Paused after the event was fanned out: dropped when it comes to be sent.
    admin.patch(f"{V}/integrations/{live}", {"status": "paused"})
    assert run(waiting) == []
    assert receiver.requests == []
    [dropped] = pushes(admin, live)
    assert dropped["status"] == "dropped" and "paused" in dropped["reason"]
    # Deleted: its subscriptions go with it.
    assert admin.delete(f"{V}/integrations/{live}").status_code == 204
    fan_out(admin, event())
    assert queued() == []


def test_sandbox_connection_gets_sandbox_events_and_owners_keep_theirs(
        admin: Api, receiver: Receiver) -> None:
    key = admin.post(f"{V}/api-keys", {"name": "sbx", "sandbox": True, "scopes": [
        "integrations:manage", "products:read", "exports:run"]})
    assert key.status_code == 201, key.body
    sandbox = admin.as_key(key.json["data"]["key"])
    conn = connected(sandbox, receiver.url, ["product.created", "export.completed"])
    assert fan_out(admin, event()) == {"batchItemFailures": []}
    assert queued() == []  # a live event never reaches a sandbox connection
    owner = admin.get(f"{V}/integrations/{conn}").json["data"]["owner"]
    theirs = event("export.completed", sandbox=True, owner="usr_someone_else")
    fan_out(admin, event(sandbox=True), theirs,
            event("export.completed", sandbox=True, owner=owner))
    assert run(queued()) == []
    got = [json.loads(r.body)["event"] for r in receiver.requests]
    assert sorted(got) == ["export.completed", "product.created"]  # not another's
    assert all(p["status"] == "delivered" for p in pushes(sandbox, conn))


def test_same_event_twice_is_pushed_once(admin: Api, receiver: Receiver) -> None:
    conn = connected(admin, receiver.url, ["*"])
    sent = event()
    fan_out(admin, sent)
    fan_out(admin, sent)  # the outbox sweeper, an SQS redelivery
    messages = queued()
    assert len(messages) == 2  # the push was never tried: its message is sent again
    assert [run([m]) for m in messages] == [[], []]  # the second finds it done
    assert len(receiver.requests) == 1
    assert [p["status"] for p in pushes(admin, conn)] == ["delivered"]


def test_subscribing_needs_the_read_scope(admin: Api, receiver: Receiver) -> None:
    role = admin.post(f"{V}/roles", {"name": "product_pusher", "scopes": [
        "integrations:manage", "products:read"]})
    assert role.status_code == 201, role.body
    pusher, _ = make_user(admin, "pusher", ["product_pusher"])
    err = assert_error(connect(pusher, receiver.url, ["product.created", "order.created"]),
                       422, "VALIDATION_ERROR")
    assert err["details"] == [{"field": "config.push.events", "event": "order.created",
                               "requiredScope": "orders:read",
                               "message": "order.created needs the scope orders:read"}]
    assert_error(connect(pusher, receiver.url, ["order.*"]), 422, "VALIDATION_ERROR")
    unknown = assert_error(connect(pusher, receiver.url, ["nope.created"]), 422,
                           "VALIDATION_ERROR")
    assert unknown["details"][0]["field"].startswith("config.push.events")
    # A family or * means what the owner may read.
    assert connect(pusher, receiver.url, ["product.*"]).status_code == 201
    assert connect(pusher, receiver.url, ["*"]).status_code == 201
    # PUT checks the same.
    conn = connected(pusher, receiver.url, ["product.created"])
    put = pusher.put(f"{V}/integrations/{conn}", {
        "config": rest_config(receiver.url, ["order.created"]),
        "credentials": {"auth": "none"}})
    assert_error(put, 422, "VALIDATION_ERROR")


def test_an_admin_subscribes_within_the_connections_ceiling(admin: Api,
                                                            receiver: Receiver) -> None:
    """The connection keeps the scopes of whoever set it up; an admin changing another's
    config leaves them, and pushes are checked against them: so is the config."""
    admin.post(f"{V}/roles", {"name": "products_only", "scopes": [
        "integrations:manage", "products:read"]})
    uma, user = make_user(admin, "uma", ["products_only"])
    conn = connected(uma, receiver.url, ["product.created"])
    # the owner may read orders now; the connection was set up without it
    assert admin.patch(f"{V}/users/{user['id']}", {"roles": ["integrator"]}).status_code \
        == 200
    put = admin.put(f"{V}/integrations/{conn}", {
        "config": rest_config(receiver.url, ["order.created"])})
    err = assert_error(put, 422, "VALIDATION_ERROR")
    assert [(d["event"], d["requiredScope"]) for d in err["details"]] == [
        ("order.created", "orders:read")]
    assert "whoever set up this connection" in err["details"][0]["message"]
    within = admin.put(f"{V}/integrations/{conn}", {
        "config": rest_config(receiver.url, ["product.*"])})
    assert within.status_code == 200, within.body
    # the owner setting it again raises the ceiling to what it holds now
    uma2 = uma.post(f"{V}/auth/login", {"username": "uma", "password": "pw-uma-long"},
                    headers={"Authorization": ""})
    assert uma2.status_code == 200, uma2.body
    owner = admin.as_bearer(uma2.json["access_token"])
    mine = owner.put(f"{V}/integrations/{conn}", {
        "config": rest_config(receiver.url, ["order.created"])})
    assert mine.status_code == 200, mine.body


def test_owner_who_lost_the_read_scope_gets_nothing(admin: Api, receiver: Receiver) -> None:
    admin.post(f"{V}/roles", {"name": "no_orders", "scopes": [
        "integrations:manage", "products:read"]})
    ivan, user = make_user(admin, "ivan", ["integrator"])
    conn = connected(ivan, receiver.url, ["order.created", "product.created"])
    fan_out(admin, event("order.created"))
    waiting = queued()
    assert len(waiting) == 1
    changed = admin.patch(f"{V}/users/{user['id']}", {"roles": ["no_orders"]})
    assert changed.status_code == 200, changed.body
    assert run(waiting) == []
    assert receiver.requests == []
    [dropped] = pushes(admin, conn)
    assert dropped["status"] == "dropped" and "orders:read" in dropped["reason"]
    # New order events are not even queued; what it still reads goes on.
    fan_out(admin, event("order.created"), event("product.created"))
    assert run(queued()) == []
    assert [json.loads(r.body)["event"] for r in receiver.requests] == ["product.created"]


def test_a_revoked_key_or_unusable_credentials_end_the_pushes(admin: Api,
                                                              receiver: Receiver) -> None:
    from chalicelib.store import table as store

    key = admin.post(f"{V}/api-keys", {"name": "k", "scopes": [
        "integrations:manage", "products:read"]})
    assert key.status_code == 201, key.body
    by_key = connected(admin.as_key(key.json["data"]["key"]), receiver.url, ["product.*"])
    by_admin = connected(admin, receiver.url, ["product.*"])
    store.update(f"INTEGRATION#{by_admin}", "INTEGRATION", {"credentialsEnc": "not-a-secret"},
                 returns=False)
    fan_out(admin, event())
    assert admin.delete(f"{V}/api-keys/{key.json['data']['id']}").status_code == 204
    assert run(queued()) == []
    assert receiver.requests == []
    [gone] = pushes(admin, by_key)
    assert gone["status"] == "dropped" and gone["reason"].endswith("was revoked")
    [unusable] = pushes(admin, by_admin)
    assert unusable["status"] == "dropped" and "credentials" in unusable["reason"]


# -- failures --------------------------------------------------------------------------

def test_unsafe_url_refused(admin: Api, receiver: Receiver, monkeypatch: Any) -> None:
    for url in ("http://169.254.169.254/latest", "http://10.0.0.8"):
        err = assert_error(connect(admin, url, ["product.created"]), 422, "VALIDATION_ERROR")
        assert err["details"][0]["field"] == "config.baseUrl"
    conn = connected(admin, receiver.url, ["product.created"])
    fan_out(admin, event())
    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="")  # loopback now refused
    assert run(queued()) == []  # refused: failed at once, no retry would help
    assert receiver.requests == []
    [failed] = pushes(admin, conn)
    assert failed["status"] == "failed" and "refused" in failed["lastError"]
    shown = admin.get(f"{V}/integrations/{conn}").json["data"]
    assert "refused" in shown["lastPushError"]["message"]


def logged(conn: str) -> list[dict[str, Any]]:
    """The push log as GET .../pushes shows it (read directly: the clock moves past the
    caller's token)."""
    from chalicelib.integrations import push_log

    return push_log.page(conn, cursor=None, limit=10)[0]


def test_receiver_500_is_retried_then_logged_failed(admin: Api, receiver: Receiver,
                                                   monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from chalicelib.integrations import push_worker, repo

    # The message never comes back here (SQS's clock is real): its waits are recorded.
    asked: list[int] = []
    monkeypatch.setattr(push_worker, "come_back_in", lambda _handle, wait: asked.append(wait))
    receiver.default = Action(status=500, body="down")
    conn = connected(admin, receiver.url, ["product.created"])
    sent = event()
    fan_out(admin, sent)
    [message] = queued()
    waits = []
    for attempt in range(1, push_worker.MAX_ATTEMPTS):
        assert run([message]) == [message["MessageId"]]
        [pending] = logged(conn)
        assert pending["status"] == "pending" and pending["attempts"] == attempt
        due = clock.parse_iso(pending["nextAttemptAt"]) - clock.now()
        waits.append(round(due))
        assert run([message]) == [message["MessageId"]]  # not yet due: nothing sent
        assert len(receiver.requests) == attempt
        clock.advance(due + 1)
    # Each failure asks for its wait (at most SQS's 12 h), each early arrival the rest.
    assert asked[::2] == [min(w, push_worker.MAX_VISIBILITY) for w in push_worker.BACKOFF]
    assert all(abs(w - b) <= 1 for w, b in zip(waits, push_worker.BACKOFF, strict=True))
    assert all(0 < a <= b for a, b in zip(asked[1::2], push_worker.BACKOFF, strict=True))
    assert sum(waits) > 20 * 3600  # about a day
    assert run([message]) == []
    assert len(receiver.requests) == push_worker.MAX_ATTEMPTS
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {sent["id"]}
    [failed] = logged(conn)
    assert failed["status"] == "failed" and failed["lastError"].endswith("answered 500")
    last = (repo.get_item(conn) or {})["lastPushError"]
    assert last["eventId"] == sent["id"] and last["eventType"] == "product.created"
    receiver.default = Action()
    fan_out(admin, sent)  # fanned out again: already done
    assert queued() == []


def test_receiver_recovers_within_the_retries(admin: Api, receiver: Receiver) -> None:
    from chalicelib.core import clock

    receiver.script = [Action(status=503)]
    conn = connected(admin, receiver.url, ["product.created"])
    fan_out(admin, event())
    [message] = queued()
    assert run([message]) == [message["MessageId"]]
    clock.advance(61)
    assert run([message]) == []
    [done] = pushes(admin, conn)
    assert done["status"] == "delivered" and done["attempts"] == 2
    assert admin.get(f"{V}/integrations/{conn}").json["data"]["lastPushError"] is None
