"""Webhooks end to end: the running local stack (API, moto, worker with its SQS pollers
and schedule) delivering to real loopback receivers. The stack runs with
GATEHOUSE_WEBHOOK_RETRY_SCHEDULE=1,1,1 (tests/e2e/conftest.py)."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.webhook_receiver import Action, Receiver

pytestmark = pytest.mark.e2e
# A few hundred events, as the issue asks: about 30 s in the local stack (API, emulator
# and worker in one process).
EVENTS = 300


@pytest.fixture
def api(local_stack: Any) -> Iterator[httpx.Client]:
    resp = httpx.post(f"{local_stack.base_url}/api/v1/oauth/token",
                      data={"grant_type": "client_credentials"},
                      auth=(local_stack.admin_client_id, local_stack.admin_secret))
    assert resp.status_code == 200, resp.text
    token = resp.json()["access_token"]
    with httpx.Client(base_url=local_stack.base_url, timeout=10.0,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as rcv:
        yield rcv


def create_hook(api: httpx.Client, url: str, events: list[str], **extra: Any) -> dict:
    resp = api.post("/api/v1/webhooks", json={"url": url, "events": events, **extra})
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["data"])


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_api_write_reaches_receiver_verified(api, receiver):
    hook = create_hook(api, receiver.url, ["product.created"])
    sku = f"E2E-{uuid.uuid4().hex[:8]}"
    resp = api.post("/api/v1/products", json={"sku": sku, "name": "Lamp", "price": "9.50"})
    assert resp.status_code == 201, resp.text
    product_id = resp.json()["data"]["id"]

    def mine() -> Any:
        return [r for r in receiver.requests if json.loads(r.body)["data"].get("id")
                == product_id]

    [req] = wait_until(mine, 15, "the product.created delivery")
    Webhook(hook["secret"]).verify(req.body, req.headers)
    body = json.loads(req.body)
    assert body["event"] == "product.created" and body["data"]["sku"] == sku
    assert req.headers["webhook-id"] == body["id"]
    # The delivery log shows it delivered, with its attempt.
    base = f"/api/v1/webhooks/{hook['id']}"
    listed = wait_until(lambda: [d for d in api.get(f"{base}/deliveries").json()["data"]
                                 if d["status"] == "delivered"], 5, "the delivery log")
    assert listed[0]["attempts"][0]["status"] == 200


def test_retry_then_success_and_410_disables(api, receiver):
    hook = create_hook(api, receiver.url, ["product.updated"])
    receiver.script = [Action(500), Action(429, headers={"Retry-After": "1"}),
                       Action(200)]
    base = f"/api/v1/webhooks/{hook['id']}"
    assert api.post(f"{base}/test").status_code == 202
    reqs = receiver.wait_for(3, timeout=20)
    assert len({r.headers["webhook-id"] for r in reqs}) == 1
    assert [r.headers["x-webhook-attempt"] for r in reqs] == ["1", "2", "3"]
    # Timer: about 1 s (+-20%) then at least Retry-After and 2x the schedule.
    assert reqs[1].at - reqs[0].at >= 0.75
    for r in reqs:
        Webhook(hook["secret"]).verify(r.body, r.headers)
    done = wait_until(lambda: [d for d in api.get(f"{base}/deliveries").json()["data"]
                               if d["status"] == "delivered"], 5, "delivered status")
    assert [a["status"] for a in done[0]["attempts"]] == [500, 429, 200]

    receiver.script = [Action(410)]
    assert api.post(f"{base}/test").status_code == 202
    wait_until(lambda: api.get(base).json()["data"]["status"] == "disabled", 15,
               "the webhook disabled after 410")


def test_chaos_every_event_delivered_once_per_id(api, receiver, local_stack):
    """EVENTS events, a third of attempts failing at random (500, 503, resets): every event
    arrives, duplicates only under the same webhook-id, every signature verifies."""
    import boto3

    rng = random.Random(7)
    lock = threading.Lock()
    ok_ids: dict[str, int] = {}

    def decide(req: Any) -> Action:
        with lock:
            roll = rng.random()
            if roll < 1 / 9:
                return Action(reset=True)
            if roll < 1 / 3:
                return Action(rng.choice([500, 503]))
            event_id = json.loads(req.body)["id"]
            ok_ids[event_id] = ok_ids.get(event_id, 0) + 1
            return Action(200)

    receiver.decide = decide
    hook = create_hook(api, receiver.url, ["product.deleted"], retryCount=10,
                       retrySchedule=[1])
    sqs = boto3.client("sqs", endpoint_url=local_stack.aws_url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    queue = sqs.get_queue_url(QueueName="gatehouse-local-events")["QueueUrl"]
    sent: list[str] = []
    started = time.monotonic()
    for start in range(0, EVENTS, 10):
        entries = []
        for i in range(start, start + 10):
            event_id = f"evt_chaos{uuid.uuid4().hex}"
            sent.append(event_id)
            event = {"id": event_id, "event": "product.deleted",
                     "timestamp": "2026-01-01T00:00:00.000Z", "data": {"id": f"prd_{i}"},
                     "owner": "", "sandbox": False, "webhookId": ""}
            entries.append({"Id": str(i - start), "MessageBody": json.dumps(event)})
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)
    try:
        wait_until(lambda: set(sent) <= set(ok_ids), 150, "every chaos event delivered")
    except AssertionError:
        raise AssertionError(f"{len(ok_ids)} of {len(sent)} delivered, "
                             f"{len(receiver.requests)} attempts") from None
    took = time.monotonic() - started
    secret = Webhook(hook["secret"])
    for req in list(receiver.requests):
        body = json.loads(req.body)
        assert req.headers["webhook-id"] == body["id"]  # duplicates share the id
        secret.verify(req.body, req.headers)
    failures = len(receiver.requests) - sum(ok_ids.values())
    assert failures > EVENTS // 5  # the chaos did happen
    assert set(ok_ids) == set(sent)
    # At least once: a second success for one event would only be a redelivery of the
    # same webhook-id (asserted above); none is expected here.
    assert sum(ok_ids.values()) == len(sent), {k: v for k, v in ok_ids.items() if v > 1}
    print(f"chaos: {len(sent)} events, {len(receiver.requests)} attempts, "
          f"{failures} failed, all delivered in {took:.1f}s")
