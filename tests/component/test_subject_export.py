"""A data subject's export: POST /customers/{id}/export (admin) -> an export job whose
file is one JSON document holding everything kept about that customer (record, orders
with payments, tickets, the event and delivery copies linked to them) and nothing of
anyone else's; streamed page by page through the job's checkpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.helpers import assert_error, set_env
from tests.component.jobs_queue import Clockwork, run_jobs
from tests.component.test_exports import (  # noqa: F401 - _empty_bucket: autouse
    _empty_bucket,
    export_of,
    fetch,
)
from tests.component.test_resources import customer, order, product
from tests.conftest import Api, make_user

V = "/api/v1"


def export_customer(api: Api, customer_id: str) -> dict[str, Any]:
    resp = api.post(f"{V}/customers/{customer_id}/export")
    assert resp.status_code == 202, resp.body
    job = dict(resp.json["data"])
    assert resp.headers["Location"] == f"{V}/exports/{job['id']}"
    assert job["status"] == "pending" and job["format"] == "json"
    assert job["entity"] == "customer_subject" and job["filters"] == {"customerId": customer_id}
    return job


def document(api: Api, job: dict[str, Any], context: Any = None) -> dict[str, Any]:
    run_jobs(context)
    done = export_of(api, job["id"])
    assert done["status"] == "completed", done
    return dict(json.loads(fetch(api, job["id"])))


def deliver_everything() -> None:
    """The outbox's events fanned out and delivered to the test's receiver."""
    import boto3

    from chalicelib.core.aws import queue_url
    from chalicelib.webhooks import worker
    from tests.component.test_resources import outbox_events

    fanned = [{"messageId": e["id"], "body": json.dumps(e)} for e in outbox_events()]
    assert worker.fan_out_batch({"Records": fanned}) == {"batchItemFailures": []}
    sqs, url, queued = boto3.client("sqs", region_name="us-east-1"), queue_url("webhooks"), []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        queued += [{"messageId": m["MessageId"], "body": m["Body"]} for m in got]
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert worker.deliver_batch({"Records": queued}) == {"batchItemFailures": []}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.webhook_receiver import Receiver

    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with Receiver() as rcv:
        yield rcv


def test_the_export_holds_the_customers_data_and_nobody_elses(admin: Api,
                                                             receiver: Any) -> None:
    hook = admin.post(f"{V}/webhooks", {"url": receiver.url, "events": [
        "customer.created", "customer.updated", "order.created"]})
    assert hook.status_code == 201, hook.body
    p = product(admin)
    c = customer(admin, "Hedy@Example.com", phone="+1 555 0199")
    other = customer(admin, "keep@example.com")
    assert admin.put(f"{V}/customers/{c['id']}", {"name": "Hedy L."}).status_code == 200
    line = [{"productId": p["id"], "quantity": 1, "price": "5.00"}]
    mine = [order(admin, c, line), order(admin, c, line)]
    theirs = order(admin, other, line)
    paid = admin.post(f"{V}/orders/{mine[0]['id']}/payments", {"amount": "2.00",
                                                               "method": "card"})
    assert paid.status_code == 201, paid.body
    ticket = admin.post(f"{V}/tickets", {"subject": "Parcel late", "customerId": c["id"]})
    assert ticket.status_code == 201, ticket.body
    assert admin.post(f"{V}/tickets", {"subject": "Other", "customerId": other["id"]}
                      ).status_code == 201
    deliver_everything()

    job = export_customer(admin, c["id"])
    doc = document(admin, job)
    assert list(doc) == ["generatedAt", "subject", "customer", "orders", "tickets", "events",
                         "deliveries"]
    assert doc["subject"] == {"type": "customer", "id": c["id"], "namespace": "live",
                              "status": "active", "erased": False}
    assert doc["customer"] == admin.get(f"{V}/customers/{c['id']}").json["data"]
    assert doc["customer"]["email"] == "Hedy@Example.com"
    assert sorted(o["id"] for o in doc["orders"]) == sorted(o["id"] for o in mine)
    first = next(o for o in doc["orders"] if o["id"] == mine[0]["id"])
    assert [pay["amount"] for pay in first["payments"]] == ["2.00"]
    assert first["shippingAddress"]["street"] == "1 Main St"
    assert [t["id"] for t in doc["tickets"]] == [ticket.json["data"]["id"]]
    # The event copies linked to her: created, updated, and each order's creation.
    kinds = sorted(e["event"] for e in doc["events"])
    assert kinds == ["customer.created", "customer.updated", "order.created", "order.created"]
    assert all(set(e) == {"id", "event", "timestamp", "data"} for e in doc["events"])
    # Their deliveries: to the webhook, delivered, with the payload as sent.
    assert len(doc["deliveries"]) == 4
    assert {d["webhookId"] for d in doc["deliveries"]} == {hook.json["data"]["id"]}
    assert {d["status"] for d in doc["deliveries"]} == {"delivered"}
    assert {d["eventId"] for d in doc["deliveries"]} == {e["id"] for e in doc["events"]}
    assert all("responseBody" not in a for d in doc["deliveries"] for a in d["attempts"])
    # Nothing of the other customer's.
    text = json.dumps(doc)
    assert other["id"] not in text and theirs["id"] not in text
    assert "keep@example.com" not in text
    # The dictionary: the sections, and the resources' fields within them.
    dictionary = json.loads(fetch(admin, job["id"], "dictionary"))
    assert [f["name"] for f in dictionary["fields"]] == list(doc)
    assert dictionary["customerId"] == c["id"]
    assert "shippingAddress" in {f["name"] for f in dictionary["sections"]["orders"]}
    # Audited against the customer, as erasure is.
    audited = admin.get(f"{V}/audit-logs?action=customer.export").json["data"]
    assert [(a["targetId"], a["changes"]["exportId"]) for a in audited] == [(c["id"],
                                                                            job["id"])]
    created = admin.get(f"{V}/audit-logs?action=export.create&targetId={job['id']}")
    assert [a["requestId"] for a in created.json["data"]] == [audited[0]["requestId"]]
    # The history lists it like any export.
    listed = admin.get(f"{V}/exports?entity=customer_subject").json["data"]
    assert [e["id"] for e in listed] == [job["id"]]


def test_an_erased_customers_export_holds_what_is_left(admin: Api) -> None:
    p = product(admin)
    c = customer(admin, "gone@example.com", phone="+1 555 0101")
    o = order(admin, c, [{"productId": p["id"], "quantity": 1, "price": "1.00"}])
    assert admin.delete(f"{V}/customers/{c['id']}").status_code == 200
    doc = document(admin, export_customer(admin, c["id"]))
    assert doc["subject"]["erased"] is True and doc["subject"]["erasedAt"]
    assert "erased" in doc["subject"]["note"]
    assert doc["customer"]["name"] == "[erased]" and "email" not in doc["customer"]
    [kept] = doc["orders"]
    assert kept["id"] == o["id"] and "shippingAddress" not in kept
    assert doc["events"] == [] and doc["deliveries"] == []
    assert "gone@example.com" not in json.dumps(doc)


def test_many_orders_stream_through_checkpoints(admin: Api,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 3 orders and short invocations: the job suspends and resumes mid-section
    and the document still holds each order once."""
    import moto.s3.models

    from chalicelib.exchange.exports import storage, subject

    monkeypatch.setattr(subject, "ORDER_PAGE", 3)
    monkeypatch.setattr(subject, "LINK_PAGE", 4)
    monkeypatch.setattr(storage, "PART_BYTES", 4096)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 4096)
    p = product(admin)
    c = customer(admin)
    made = [order(admin, c, [{"productId": p["id"], "quantity": i + 1, "price": "1.00"}])
            for i in range(14)]
    job = export_customer(admin, c["id"])
    assert run_jobs(Clockwork(2), limit=1) == 1
    from chalicelib.jobs import repo

    halfway = repo.get(job["id"])
    assert halfway is not None and halfway.status == "running"
    assert json.loads(halfway.checkpoint["cursor"])["section"] == "orders"
    doc = document(admin, job, Clockwork(2))
    assert sorted(o["id"] for o in doc["orders"]) == sorted(o["id"] for o in made)
    assert len(doc["events"]) == 15  # customer.created and 14 order.created
    assert export_of(admin, job["id"])["rows"] == 2 + 14 + 15


def test_only_an_admin_and_only_a_known_customer(admin: Api) -> None:
    c = customer(admin)
    ivy, _ = make_user(admin, "ivy", ["integrator"])  # exports:run and customers:read
    assert_error(ivy.post(f"{V}/customers/{c['id']}/export"), 403, "AUTHORIZATION_ERROR")
    vic, _ = make_user(admin, "vic", ["viewer"])
    assert_error(vic.post(f"{V}/customers/{c['id']}/export"), 403, "AUTHORIZATION_ERROR")
    assert_error(admin.post(f"{V}/customers/cus_nope/export"), 404, "NOT_FOUND")
    # Not through POST /exports, and another owner's subject export is not there.
    assert_error(admin.post(f"{V}/exports", {"entity": "customer_subject",
                                             "filters": {"customerId": c["id"]}}),
                 422, "VALIDATION_ERROR")
    job = export_customer(admin, c["id"])
    assert_error(ivy.get(f"{V}/exports/{job['id']}"), 404, "NOT_FOUND")
    run_jobs()
    assert_error(ivy.get(f"{V}/exports/{job['id']}/download"), 404, "NOT_FOUND")
    # An admin who stops being one can no longer download their subject export.
    ada, user = make_user(admin, "ada", ["admin"])
    own = export_customer(ada, c["id"])
    run_jobs()
    assert export_of(ada, own["id"])["status"] == "completed"
    assert admin.put(f"{V}/users/{user['id']}", {"roles": ["analyst"]}).status_code == 200
    login = admin.post(f"{V}/auth/login", {"username": "ada", "password": "pw-ada-long"},
                       headers={"Authorization": ""})  # the role change revoked its tokens
    assert login.status_code == 200, login.body
    ada = admin.as_bearer(login.json["access_token"])
    assert export_of(ada, own["id"])["status"] == "completed"  # still theirs to see
    assert_error(ada.get(f"{V}/exports/{own['id']}/download"), 403, "AUTHORIZATION_ERROR")


def test_a_sandbox_admin_exports_a_sandbox_customer(admin: Api) -> None:
    live = customer(admin, "live@example.com")
    resp = admin.post(f"{V}/api-keys", {"name": "sb", "scopes": ["admin"], "sandbox": True})
    assert resp.status_code == 201, resp.body
    sandbox = admin.as_key(resp.json["data"]["key"])
    made = sandbox.post(f"{V}/customers", {"email": "sb@example.com", "name": "Sandy"})
    assert made.status_code == 201, made.body
    assert_error(sandbox.post(f"{V}/customers/{live['id']}/export"), 404, "NOT_FOUND")
    job = export_customer(sandbox, made.json["data"]["id"])
    assert job["sandbox"] is True
    doc = document(sandbox, job)
    assert doc["subject"]["namespace"] == "sandbox"
    assert doc["customer"]["email"] == "sb@example.com"
    # A sandbox key of someone who is not an admin is refused.
    ivy, _ = make_user(admin, "ivy", ["integrator"])
    key = ivy.post(f"{V}/api-keys", {"name": "sb", "scopes": ["exports:run",
                                                              "customers:read",
                                                              "orders:read", "tickets:read"],
                                     "sandbox": True})
    assert key.status_code == 201, key.body
    assert_error(admin.as_key(key.json["data"]["key"]).post(
        f"{V}/customers/{made.json['data']['id']}/export"), 403, "AUTHORIZATION_ERROR")
    # Nor is an admin's sandbox key that cannot read webhook deliveries (the file holds
    # them): what a key receives never exceeds its own scopes.
    narrow = admin.post(f"{V}/api-keys", {"name": "sb2", "sandbox": True, "scopes": [
        "exports:run", "customers:read", "orders:read", "tickets:read"]})
    assert narrow.status_code == 201, narrow.body
    assert_error(admin.as_key(narrow.json["data"]["key"]).post(
        f"{V}/customers/{made.json['data']['id']}/export"), 403, "AUTHORIZATION_ERROR")
