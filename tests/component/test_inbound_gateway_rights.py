"""The payment-gateway connector's inbound callbacks and who they record as: the
owner's and the configuring credential's current rights, the namespace, the inbound
log's owner, the IP's budget (the callbacks themselves: test_inbound_gateway.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.gateway_sim import GatewaySim
from tests.component.helpers import assert_error, set_env
from tests.component.test_inbound_gateway import (
    SECRET,
    V,
    an_order,
    connect,
    logged,
    payments,
)
from tests.component.test_resources import outbox_events
from tests.conftest import make_user


@pytest.fixture
def sim() -> GatewaySim:
    return GatewaySim(SECRET)


def test_an_owner_without_orders_write_records_nothing_until_it_is_back(admin, sim):
    alice, info = make_user(admin, "alice-gw", ["integrator"])
    conn, o = connect(alice), an_order(alice)
    assert admin.put(f"{V}/users/{info['id']}", {"roles": ["viewer"]}).status_code == 200
    event = sim.payment_event(o["id"], 100)
    assert_error(sim.deliver(admin, conn, event), 403, "AUTHORIZATION_ERROR")
    assert payments(admin, o["id"]) == [] and outbox_events("payment.received") == []
    [entry] = logged(admin, conn)
    assert entry["outcome"] == "refused"
    # The gateway retries; once the right is back the same event is recorded.
    assert admin.put(f"{V}/users/{info['id']}", {"roles": ["integrator"]}).status_code == 200
    assert sim.deliver(admin, conn, event).json["outcome"] == "recorded"
    assert len(payments(admin, o["id"])) == 1
    assert [e["outcome"] for e in logged(admin, conn)] == ["recorded"]


def test_a_connection_made_by_a_key_without_orders_write_records_nothing(admin, sim):
    resp = admin.post(f"{V}/api-keys", {"name": "ops", "scopes": ["integrations:manage"]})
    assert resp.status_code == 201, resp.body
    conn, o = connect(admin.as_key(resp.json["data"]["key"])), an_order(admin)
    assert_error(sim.deliver(admin, conn, sim.payment_event(o["id"], 100)), 403,
                 "AUTHORIZATION_ERROR")
    assert payments(admin, o["id"]) == []


def test_a_sandbox_connection_pays_sandbox_orders_only(admin, sim):
    resp = admin.post(f"{V}/api-keys", {"name": "sb", "sandbox": True, "scopes": [
        "integrations:manage", "orders:read", "orders:write", "products:write",
        "customers:write"]})
    assert resp.status_code == 201, resp.body
    sandbox = admin.as_key(resp.json["data"]["key"])
    conn, sb_order, live_order = connect(sandbox), an_order(sandbox), an_order(admin)
    assert sim.deliver(admin, conn, sim.payment_event(sb_order["id"], 100)
                       ).json["outcome"] == "recorded"
    assert len(payments(sandbox, sb_order["id"])) == 1
    [raised] = outbox_events("payment.received")
    assert raised["sandbox"] is True
    live = sim.deliver(admin, conn, sim.payment_event(live_order["id"], 100))
    assert live.json["outcome"] == "rejected"
    assert payments(admin, live_order["id"]) == []


def test_the_inbound_log_is_its_owners(admin, sim):
    alice, _ = make_user(admin, "alice-log", ["integrator"])
    bob, _ = make_user(admin, "bob-log", ["integrator"])
    viewer, _ = make_user(admin, "vic-log", ["viewer"])
    conn = connect(alice)
    sim.deliver(admin, conn, sim.payment_event("ord_x", 100, event_type="customer.created"))
    assert len(logged(alice, conn)) == 1 and len(logged(admin, conn)) == 1
    assert_error(bob.get(f"{V}/integrations/{conn}/inbound/events"), 404, "NOT_FOUND")
    assert_error(viewer.get(f"{V}/integrations/{conn}/inbound/events"), 403,
                 "AUTHORIZATION_ERROR")


# ---- the endpoint is public: failures cost the caller's IP, good callbacks do not ----

def test_failed_checks_count_against_the_ip_and_signed_callbacks_never_do(
        admin, sim, monkeypatch):
    set_env(monkeypatch, GATEHOUSE_ANONYMOUS_HOURLY_LIMIT="3")
    conn, o = connect(admin), an_order(admin, "100.00")
    for _ in range(5):  # more than the IP's budget of anonymous requests
        assert sim.deliver(admin, conn, sim.payment_event(o["id"], 100)).status_code == 200
    forger = GatewaySim("whsec_forged_forged_forged")
    statuses = [forger.deliver(admin, conn, forger.payment_event(o["id"], 100)).status_code
                for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert sim.deliver(admin, conn, sim.payment_event(o["id"], 100)).status_code == 200
    assert len(payments(admin, o["id"])) == 6


def test_concurrent_deliveries_against_the_emulator_record_each_event_once():
    """Real threads against the local stack's emulator (atomic, unlike the in-process
    mock): 12 deliveries of one event and 12 distinct events on one order at once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run([sys.executable, "-m", "tests.component.gateway_race", "12"],
                         capture_output=True, text=True, timeout=300, env=env,
                         cwd=Path(__file__).resolve().parents[2], check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["same"] == {"recorded": 1, "duplicate": 11}, result
    # A distinct event may lose its races too often (409): the gateway retries it. None
    # is recorded twice, and what was recorded adds up.
    recorded = result["distinct"].get("recorded", 0)
    assert set(result["distinct"]) <= {"recorded", "http409"} and recorded >= 1, result
    assert result["payments"] == result["received"] == 1 + recorded, result
    assert result["amountPaid"] == 100 * (1 + recorded), result


def test_the_catalog_lists_the_gateway_type(admin):
    kinds = {k["type"]: k for k in admin.get(f"{V}/integrations/catalog").json["data"]}
    gateway = kinds["payment_gateway"]
    assert gateway["directions"] == ["inbound"] and gateway["template"] is False
    assert gateway["credentialsSchema"]["required"] == ["signingSecret"]
    config = gateway["configSchema"]["properties"]
    assert config["toleranceSeconds"]["default"] == 300
    assert config["orderIdPath"]["default"] == "data.object.metadata.orderId"
    for config, credentials, field in (
            ({"toleranceSeconds": "300"}, {"signingSecret": SECRET}, "config.toleranceSeconds"),
            ({"toleranceSeconds": 5}, {"signingSecret": SECRET}, "config.toleranceSeconds"),
            ({"scheme": "paypal"}, {"signingSecret": SECRET}, "config.scheme"),
            ({"orderIdPath": "a..b"}, {"signingSecret": SECRET}, "config.orderIdPath"),
            ({"extra": 1}, {"signingSecret": SECRET}, "config.extra"),
            ({}, {"signingSecret": "s3cr3t!"}, "credentials.signingSecret"),
            ({}, {}, "credentials.signingSecret")):
        resp = admin.post(f"{V}/integrations", {"type": "payment_gateway", "name": "x",
                                                "config": config, "credentials": credentials})
        err = assert_error(resp, 422, "VALIDATION_ERROR")
        assert [d["field"] for d in err["details"]] == [field], err
        assert "s3cr3t!" not in json.dumps(err)


# ---- what a credential set up ends with it ----

def test_a_connection_stops_recording_once_the_credential_that_set_it_ends(admin, sim):
    def key(name: str) -> dict[str, Any]:
        resp = admin.post(f"{V}/api-keys", {"name": name, "scopes": [
            "integrations:manage", "orders:write"]})
        assert resp.status_code == 201, resp.body
        return dict(resp.json["data"])

    made = key("k")
    conn, o = connect(admin.as_key(made["key"])), an_order(admin)
    assert admin.delete(f"{V}/api-keys/{made['id']}").status_code == 204
    event = sim.payment_event(o["id"], 500)
    err = assert_error(sim.deliver(admin, conn, event), 403, "AUTHORIZATION_ERROR")
    assert made["id"] in err["message"]
    assert payments(admin, o["id"]) == [] and logged(admin, conn)[0]["outcome"] == "refused"
    # Whoever configures it next sets its ceiling: the admin here; then it records.
    resp = admin.put(f"{V}/integrations/{conn}", {"config": {}})
    assert resp.status_code == 200, resp.body
    assert sim.deliver(admin, conn, event).json["outcome"] == "recorded"
    # Another key configures it, and is revoked: what the connection does ends with it,
    # whoever made it.
    other = key("other")
    assert admin.as_key(other["key"]).put(f"{V}/integrations/{conn}", {
        "config": {}}).status_code == 200
    assert admin.delete(f"{V}/api-keys/{other['id']}").status_code == 204
    assert_error(sim.deliver(admin, conn, sim.payment_event(o["id"], 100)), 403,
                 "AUTHORIZATION_ERROR")
    assert len(payments(admin, o["id"])) == 1


def test_a_connection_made_by_an_oauth_client_ends_with_the_client(admin, sim):
    from tests.conftest import client_token

    resp = admin.post(f"{V}/oauth/clients", {"name": "pos", "scopes": [
        "integrations:manage", "orders:write"]})
    assert resp.status_code == 201, resp.body
    cid, secret = resp.json["data"]["client_id"], resp.json["data"]["client_secret"]
    client = admin.as_bearer(client_token(admin, cid, secret)["access_token"])
    conn, o = connect(client), an_order(admin)
    assert sim.deliver(admin, conn, sim.payment_event(o["id"], 100)).json["outcome"] == \
        "recorded"
    assert admin.put(f"{V}/oauth/clients/{cid}", {"active": False}).status_code == 200
    err = assert_error(sim.deliver(admin, conn, sim.payment_event(o["id"], 100)), 403,
                       "AUTHORIZATION_ERROR")
    assert "disabled" in err["message"]
    assert admin.put(f"{V}/oauth/clients/{cid}", {"active": True}).status_code == 200
    assert sim.deliver(admin, conn, sim.payment_event(o["id"], 100)).json["outcome"] == \
        "recorded"
    assert admin.delete(f"{V}/oauth/clients/{cid}").status_code == 204
    err = assert_error(sim.deliver(admin, conn, sim.payment_event(o["id"], 100)), 403,
                       "AUTHORIZATION_ERROR")
    assert "deleted" in err["message"] and len(payments(admin, o["id"])) == 2
