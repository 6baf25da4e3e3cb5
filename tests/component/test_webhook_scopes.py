"""Webhooks never show what their owner (or whoever subscribed them) may not read: the
registration check against the creator's scopes, fan-out against the owner's current
scopes (and the subscriber's, kept on the webhook), and payloads in the deliveries API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.component.helpers import assert_error, resolve_example_com_publicly, snapshot
from tests.conftest import Api, make_user

BASE = "/api/v1/webhooks"
URL = "https://hooks.example.com/gatehouse"
CUSTOMER = {"id": "cus_1", "name": "Ada Lovelace", "email": "ada@example.org"}


@pytest.fixture(autouse=True)
def _dns(monkeypatch: Any) -> None:
    resolve_example_com_publicly(monkeypatch)


def key_with(api: Api, scopes: list[str]) -> Api:
    resp = api.post("/api/v1/api-keys", {"name": "k", "scopes": scopes})
    assert resp.status_code == 201, resp.body
    return api.as_key(resp.json["data"]["key"])


def create(api: Api, events: list[str], url: str = URL) -> dict[str, Any]:
    resp = api.post(BASE, {"url": url, "events": events})
    assert resp.status_code == 201, resp.body
    return dict(resp.json["data"])


def set_rights(user_id: str, scopes: list[str], active: bool = True) -> None:
    """The user's rights as owners.py reads them (scopes kept on the item, no roles)."""
    from chalicelib.store import table as store

    store.table().update_item(
        Key={"PK": f"USER#{user_id}", "SK": "USER"},
        UpdateExpression="SET scopes = :s, #r = :r, active = :a",
        ExpressionAttributeNames={"#r": "roles"},
        ExpressionAttributeValues={":s": scopes, ":r": [], ":a": active})


def record(body: Any) -> dict[str, Any]:
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps(body),
            "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs"}


def fan_out(*events: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The events through the events-queue handler in one batch."""
    from chalicelib.events import outbox
    from chalicelib.webhooks import worker

    made = [outbox.new_event(kind, data) for kind, data in events]
    assert worker.fan_out_batch({"Records": [record(e) for e in made]}) == {
        "batchItemFailures": []}
    return made


def deliveries(hook_id: str) -> dict[str, dict[str, Any]]:
    """The webhook's deliveries as stored, by event type."""
    from chalicelib.store import table as store

    items = store.query_all(f"WEBHOOK#{hook_id}#DLV", index="GSI1")
    return {str(i["event"]): i for i in items}


# -- registration ----------------------------------------------------------------------

def test_subscribing_needs_the_read_scope_of_each_type(admin: Api) -> None:
    key = key_with(admin, ["webhooks:manage"])
    before = snapshot()
    resp = key.post(BASE, {"url": URL, "events": ["customer.created", "order.created",
                                                  "webhook.test"]})
    err = assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert "customers:read" in err["message"] and "orders:read" in err["message"]
    assert {(d["event"], d["requiredScope"]) for d in err["details"]} == {
        ("customer.created", "customers:read"), ("order.created", "orders:read")}
    assert all(d["field"] == "events" for d in err["details"])
    assert snapshot() == before  # nothing written
    # what it may read, it may subscribe to; * is "all I may read"
    create(key, ["webhook.test"])
    create(key, ["*"])
    reader = key_with(admin, ["webhooks:manage", "customers:read"])
    create(reader, ["customer.created"])


def test_put_cannot_subscribe_or_redirect_beyond_the_callers_scopes(admin: Api) -> None:
    key = key_with(admin, ["webhooks:manage"])
    mine = create(key, ["webhook.test"])["id"]
    theirs = create(admin, ["customer.created"])["id"]  # the owner's, made with its rights
    before = snapshot()
    for wid, body in ((mine, {"events": ["customer.created"]}),
                      (theirs, {"url": "https://attacker.example.com/x"}),
                      (theirs, {"events": ["customer.created", "webhook.test"]})):
        err = assert_error(key.put(f"{BASE}/{wid}", body), 403, "AUTHORIZATION_ERROR")
        assert err["details"][0]["requiredScope"] == "customers:read"
    assert snapshot() == before
    # what does not change what is sent, or where, stays open to it
    assert key.put(f"{BASE}/{theirs}", {"active": False}).status_code == 200
    assert key.put(f"{BASE}/{mine}", {"events": ["*"]}).status_code == 200
    # * with a new URL is allowed, but then yields only what the key itself may read
    moved = key.put(f"{BASE}/{theirs}", {"events": ["*"], "active": True,
                                         "url": "https://attacker.example.com/x"})
    assert moved.status_code == 200, moved.body
    fan_out(("customer.created", CUSTOMER))
    assert deliveries(theirs) == {}


# -- fan-out ---------------------------------------------------------------------------

def test_star_yields_only_what_owner_and_subscriber_may_read(admin: Api) -> None:
    full = create(admin, ["*"])
    key = key_with(admin, ["webhooks:manage", "products:read"])
    narrow = create(key, ["*"])  # the owner (admin) reads all; the key did not
    fan_out(("customer.created", CUSTOMER), ("product.created", {"id": "prd_1"}))
    assert set(deliveries(full["id"])) == {"customer.created", "product.created"}
    assert set(deliveries(narrow["id"])) == {"product.created"}


def test_fan_out_checks_the_owners_current_scopes(admin: Api, monkeypatch: Any) -> None:
    from chalicelib.auth import owners

    _alice, alice = make_user(admin, "alice-sc", ["integrator"])
    _bob, bob = make_user(admin, "bob-sc", ["integrator"])
    hooks = {}
    for name, user in (("alice", _alice), ("bob", _bob)):
        hooks[name] = create(user, ["customer.created", "product.created", "webhook.test"])
    set_rights(alice["id"], ["webhooks:manage", "products:read"])  # lost customers:read
    set_rights(bob["id"], ["webhooks:manage", "customers:read", "products:read"],
               active=False)
    from chalicelib.store import table as store

    calls: list[list[tuple[str, str]]] = []
    real = store.batch_get
    monkeypatch.setattr(store, "batch_get",
                        lambda keys, *a, **k: calls.append(list(keys)) or real(keys, *a, **k))
    fan_out(("customer.created", CUSTOMER), ("product.created", {"id": "prd_1"}),
            ("customer.created", {**CUSTOMER, "id": "cus_2"}))
    assert set(deliveries(hooks["alice"]["id"])) == {"product.created"}
    assert deliveries(hooks["bob"]["id"]) == {}  # inactive: nothing at all
    # The owners of a batch's webhooks, read once, in the same call as the webhooks.
    reads = [c for c in calls if any(pk.startswith("USER#") for pk, _ in c)]
    assert len(reads) == 1, calls
    assert {owners.user_key(alice["id"]), owners.user_key(bob["id"])} <= set(reads[0])
    assert any(pk.startswith("WEBHOOK#") for pk, _ in reads[0])


def test_platform_events_need_their_declared_scope(admin: Api) -> None:
    from chalicelib.events import catalog

    assert catalog.read_scope("webhook.disabled") == "webhooks:manage"
    user, data = make_user(admin, "carol-sc", ["integrator"])
    hook = create(user, ["webhook.test"])
    assert user.post(f"{BASE}/{hook['id']}/test").status_code == 202
    set_rights(data["id"], ["products:read"])  # no longer manages webhooks
    from chalicelib.events import outbox
    from chalicelib.webhooks import worker

    event = outbox.new_event("webhook.test", {"webhookId": hook["id"]}, owner=data["id"],
                             webhook_id=hook["id"])
    assert worker.fan_out_batch({"Records": [record(event)]}) == {"batchItemFailures": []}
    assert deliveries(hook["id"]) == {}
    set_rights(data["id"], ["webhooks:manage"])
    worker.fan_out_batch({"Records": [record(event)]})
    assert set(deliveries(hook["id"])) == {"webhook.test"}


# -- the deliveries API ----------------------------------------------------------------

def test_delivery_data_only_for_callers_and_owners_who_may_read_it(admin: Api) -> None:
    from chalicelib.webhooks.delivery import repo

    user, data = make_user(admin, "dora-sc", ["integrator"])
    hook = create(user, ["customer.created"])
    fan_out(("customer.created", CUSTOMER))
    did = deliveries(hook["id"])["customer.created"]["id"]
    repo.update(did, {"attempts": [{"attempt": 1, "status": 500,
                                    "responseBody": "echo ada@example.org"}]})
    base = f"{BASE}/{hook['id']}"
    shown = user.get(f"{base}/deliveries/{did}").json["data"]
    assert shown["payload"]["data"] == CUSTOMER and "dataOmitted" not in shown
    assert shown["requiredScope"] == "customers:read"

    # the owner's key without customers:read: no data, no receiver answers
    key = key_with(user, ["webhooks:manage"])
    for path in (f"{base}/deliveries/{did}", f"{base}/deliveries", f"{base}/delivery-logs"):
        resp = key.get(path)
        assert resp.status_code == 200, resp.body
        text = json.dumps(resp.json)
        assert "ada@example.org" not in text and "Ada" not in text, text
    one = key.get(f"{base}/deliveries/{did}").json["data"]
    assert one["dataOmitted"] is True and one["requiredScope"] == "customers:read"
    assert set(one["payload"]) == {"id", "event", "timestamp"}
    listed = key.get(f"{base}/deliveries").json["data"][0]
    assert listed["dataOmitted"] is True and listed["attempts"][0]["responseBody"] is None

    # the owner lost the scope: nobody sees it, not even an admin, and it is not resent
    set_rights(data["id"], ["webhooks:manage"])
    assert "ada@example.org" not in json.dumps(admin.get(f"{base}/deliveries/{did}").json)
    repo.update(did, {"status": "failed"})
    err = assert_error(admin.post(f"{base}/redeliver/{did}"), 403, "AUTHORIZATION_ERROR")
    assert err["details"][0]["requiredScope"] == "customers:read"
    got = admin.post(f"{base}/recover", {"since": "2000-01-01T00:00:00Z"})
    assert got.status_code == 202 and got.json["data"]["recovered"] == 0
    assert deliveries(hook["id"])["customer.created"]["status"] == "failed"


def test_the_rule_is_published_in_the_catalog_and_openapi(admin: Api) -> None:
    import app  # noqa: F401 - registers every route and event type
    from chalicelib.docs.openapi import document

    events = {e["type"]: e for e in admin.get(f"{BASE}/events").json["data"]}
    assert events["customer.created"]["requiredScope"] == "customers:read"
    paths = document()["paths"]
    catalog_op = next(ops["get"] for p, ops in paths.items() if p.endswith("/webhooks/events"))
    assert "requiredScope" in catalog_op["description"]
    create_op = next(ops["post"] for p, ops in paths.items() if p.endswith("/webhooks"))
    assert "requiredScope" in create_op["description"]
    listing = next(ops["get"] for p, ops in paths.items()
                   if p.endswith("/webhooks/{webhook_id}/deliveries"))
    assert "dataOmitted" in listing["description"]


def test_a_moved_url_gets_no_earlier_data_its_mover_may_not_read(
        admin: Api, monkeypatch: Any) -> None:
    """`*` lets a key without customers:read move the owner's webhook to its own URL;
    the deliveries made before (failed ones, pending retries) must not follow it there:
    not by redeliver, not by recover, not by the next attempt."""
    from chalicelib.webhooks import worker
    from chalicelib.webhooks.delivery import repo, transport

    hook = create(admin, ["*"])["id"]
    fan_out(("customer.created", CUSTOMER), ("product.created", {"id": "prd_1"}))
    made = deliveries(hook)
    customer, product = made["customer.created"]["id"], made["product.created"]["id"]
    repo.update(customer, {"status": "failed"})
    key = key_with(admin, ["webhooks:manage", "products:read"])
    moved = key.put(f"{BASE}/{hook}", {"events": ["*"],
                                       "url": "https://attacker.example.com/x"})
    assert moved.status_code == 200, moved.body
    base = f"{BASE}/{hook}"
    for caller in (key, admin):
        err = assert_error(caller.post(f"{base}/redeliver/{customer}"), 403,
                           "AUTHORIZATION_ERROR")
        assert err["details"][0]["requiredScope"] == "customers:read"
        got = caller.post(f"{base}/recover", {"since": "2000-01-01T00:00:00Z"})
        assert got.status_code == 202 and got.json["data"]["recovered"] == 0
    assert repo.get(customer)["status"] == "failed"

    # pending (a retry due): cancelled at its attempt, not sent; what the key may read
    # still goes to the URL it chose
    repo.update(customer, {"status": "pending", "attemptCount": 0})
    sent: list[str] = []

    async def send(req: Any, *_: Any) -> None:
        sent.append(json.loads(req.body)["event"])
        req.outcome.status = 200

    monkeypatch.setattr(transport, "send", send)
    worker.deliver_batch({"Records": [record({"deliveryId": did, "seq": 0})
                                      for did in (customer, product)]})
    item = repo.get(customer)
    assert item["status"] == "cancelled" and "no longer sendable" in item["reason"]
    assert sent == ["product.created"]
    assert repo.get(product)["status"] == "delivered"
