"""The payment-gateway connector's inbound callbacks, delivered by a local gateway that
signs as Stripe does (tests/component/gateway_sim.py), without Gatehouse credentials."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.gateway_sim import GatewaySim
from tests.component.helpers import assert_error, set_env, snapshot
from tests.component.test_resources import customer, order, outbox_events, product

V = "/api/v1"
SECRET = "whsec_test_0123456789abcdef"


def connect(api: Any, secret: str = SECRET, **config: Any) -> str:
    resp = api.post(f"{V}/integrations", {"type": "payment_gateway", "name": "Stripe",
                                          "config": config,
                                          "credentials": {"signingSecret": secret}})
    assert resp.status_code == 201, resp.body
    return str(resp.json["data"]["id"])


def an_order(api: Any, total: str = "20.00", sku: str = "MUG-1") -> dict[str, Any]:
    p, c = product(api, sku), customer(api, f"{sku.lower()}@example.com")
    return order(api, c, [{"productId": p["id"], "quantity": 1, "price": total}])


def payments(api: Any, order_id: str) -> list[dict[str, Any]]:
    resp = api.get(f"{V}/orders/{order_id}/payments")
    assert resp.status_code == 200, resp.body
    return list(resp.json["data"])


def logged(api: Any, connection_id: str) -> list[dict[str, Any]]:
    resp = api.get(f"{V}/integrations/{connection_id}/inbound/events")
    assert resp.status_code == 200, resp.body
    return list(resp.json["data"])


@pytest.fixture
def sim() -> GatewaySim:
    return GatewaySim(SECRET)


def test_a_signed_payment_is_recorded_once_without_gatehouse_credentials(admin, sim):
    conn, o = connect(admin), an_order(admin)
    event = sim.payment_event(o["id"], 1250)
    resp = sim.deliver(admin, conn, event)
    assert resp.status_code == 200, resp.body
    assert resp.json["received"] is True and resp.json["duplicate"] is False
    assert resp.json["outcome"] == "recorded" and resp.json["eventId"] == event["id"]
    [paid] = payments(admin, o["id"])
    assert paid["id"] == resp.json["paymentId"]
    assert (paid["amount"], paid["status"], paid["method"]) == ("12.50", "succeeded", "card")
    assert paid["reference"] == event["data"]["object"]["id"]
    got = admin.get(f"{V}/orders/{o['id']}").json["data"]
    assert got["amountPaid"] == "12.50" and got["paymentStatus"] == "partial"
    [raised] = outbox_events("payment.received")
    assert raised["data"] == paid and raised["sandbox"] is False
    [entry] = logged(admin, conn)
    assert entry["eventId"] == event["id"] and entry["outcome"] == "recorded"
    assert entry["paymentId"] == paid["id"] and entry["amount"] == "12.50"
    audit = [i for (pk, _), i in snapshot().items() if pk.startswith("AUDIT#")
             and i["action"] == "payment.succeeded"]
    assert [a["actor"] for a in audit] == [f"integration:{conn}"]
    # The same event again (the gateway retries): acknowledged, nothing more recorded.
    again = sim.deliver(admin, conn, event)
    assert again.status_code == 200 and again.json["duplicate"] is True
    assert len(payments(admin, o["id"])) == 1 and len(outbox_events("payment.received")) == 1
    assert admin.get(f"{V}/orders/{o['id']}").json["data"]["amountPaid"] == "12.50"


def test_a_failed_payment_raises_payment_failed_and_pays_nothing(admin, sim):
    conn, o = connect(admin), an_order(admin)
    resp = sim.deliver(admin, conn, sim.payment_event(o["id"], 2000, succeeded=False))
    assert resp.status_code == 200 and resp.json["outcome"] == "recorded", resp.body
    [failed] = payments(admin, o["id"])
    assert failed["status"] == "failed" and failed["amount"] == "20.00"
    assert [e["data"]["id"] for e in outbox_events("payment.failed")] == [failed["id"]]
    assert outbox_events("payment.received") == []
    got = admin.get(f"{V}/orders/{o['id']}").json["data"]
    assert got["amountPaid"] == "0.00" and got["paymentStatus"] == "unpaid"


def test_the_full_balance_marks_the_order_paid(admin, sim):
    conn, o = connect(admin), an_order(admin)
    assert sim.deliver(admin, conn, sim.payment_event(o["id"], 2000)).status_code == 200
    assert admin.get(f"{V}/orders/{o['id']}").json["data"]["paymentStatus"] == "paid"


def test_two_deliveries_of_one_event_at_once_record_one_payment(admin, sim, monkeypatch):
    """The second delivery commits while the first is between its read and its write:
    the first's transaction fails (the order changed, and the event's marker is there),
    it reads again and finds the event received."""
    from chalicelib.integrations import inbound
    from chalicelib.resources import repo

    conn, o = connect(admin), an_order(admin)
    event = sim.payment_event(o["id"], 500)
    body = sim.payload(event)
    headers = {k.lower(): v for k, v in sim.headers(body).items()}
    real_commit = repo.commit
    inner: list[dict[str, Any]] = []

    def other_delivery_first(res: Any, ops: Any, events: Any, **kw: Any) -> None:
        if not inner:
            inner.append({})
            inner[0] = inbound.receive(conn, headers, body, "203.0.113.9")
        real_commit(res, ops, events, **kw)

    monkeypatch.setattr(repo, "commit", other_delivery_first)
    outer = sim.deliver(admin, conn, event)
    assert outer.status_code == 200, outer.body
    answers = sorted([outer.json["duplicate"], inner[0]["duplicate"]])
    assert answers == [False, True]
    assert len(payments(admin, o["id"])) == 1
    assert len(outbox_events("payment.received")) == 1
    assert admin.get(f"{V}/orders/{o['id']}").json["data"]["amountPaid"] == "5.00"


# ---- signatures ----

def _post(admin: Any, conn: str, body: bytes, headers: dict[str, str]) -> Any:
    bare = type(admin)(admin.client)
    return bare.post(f"{V}/integrations/{conn}/inbound", raw=body, headers=headers)


def test_bad_signatures_and_timestamps_are_refused_and_record_nothing(admin, sim):
    from chalicelib.core import clock

    conn, o = connect(admin), an_order(admin)
    event = sim.payment_event(o["id"], 100)
    body = sim.payload(event)
    good = sim.headers(body)
    wrong = GatewaySim("whsec_someone_else_entirely").headers(body)
    cases = {
        "wrong secret": (body, wrong),
        # the same JSON, re-serialised: the signature is over the bytes sent
        "re-serialised": (json.dumps(event).encode(), good),
        "tampered": (body.replace(b"100", b"999"), good),
        "stale": (body, sim.headers(body, timestamp=clock.now_int() - 360)),
        "future": (body, sim.headers(body, timestamp=clock.now_int() + 360)),
        "missing": (body, {"Content-Type": "application/json"}),
        "no v1": (body, {"Stripe-Signature": f"t={clock.now_int()},v0=abc"}),
        "no t": (body, {"Stripe-Signature": good["Stripe-Signature"].split(",", 1)[1]}),
        "bad t": (body, {"Stripe-Signature": "t=soon," + good["Stripe-Signature"]
                                                    .split(",", 1)[1]}),
        "garbage": (body, {"Stripe-Signature": "nonsense"}),
    }
    for name, (sent, headers) in cases.items():
        err = assert_error(_post(admin, conn, sent, headers), 400, "VALIDATION_ERROR")
        assert SECRET not in json.dumps(err), name
    assert payments(admin, o["id"]) == [] and logged(admin, conn) == []
    # Within the tolerance either way is fine (clocks differ a little).
    near = sim.headers(body, timestamp=clock.now_int() - 290)
    assert _post(admin, conn, body, near).status_code == 200


def test_a_rolled_secret_signs_twice_and_either_side_may_hold_the_new_one(admin, sim):
    old_conn, new_conn = connect(admin), connect(admin, "whsec_the_new_one_123456")
    o = an_order(admin)
    sim.roll("whsec_the_new_one_123456")
    event = sim.payment_event(o["id"], 100)
    assert "v1=" in sim.header(sim.payload(event)).split("v1=", 1)[1]  # two v1 values
    assert sim.deliver(admin, old_conn, event).json["outcome"] == "recorded"
    assert sim.deliver(admin, new_conn, sim.payment_event(o["id"], 100)).status_code == 200
    sim.expire_old()
    assert_error(sim.deliver(admin, old_conn, sim.payment_event(o["id"], 100)), 400,
                 "VALIDATION_ERROR")
    assert len(payments(admin, o["id"])) == 2


def test_the_tolerance_is_the_connections(admin, sim):
    from chalicelib.core import clock

    conn, o = connect(admin, toleranceSeconds=60), an_order(admin)
    body = sim.payload(sim.payment_event(o["id"], 100))
    assert_error(_post(admin, conn, body, sim.headers(body, timestamp=clock.now_int() - 90)),
                 400, "VALIDATION_ERROR")


# ---- which connection ----

def test_unknown_or_other_connections_answer_404(admin, sim):
    from chalicelib.core import ids
    from chalicelib.integrations import repo
    from chalicelib.integrations.connector import Connection

    o = an_order(admin)
    other = ids.new_id("int")
    repo.create(Connection(id=other, type="s3_drop", name="drop", owner="admin",
                           sandbox=False, config={"bucket": "some-bucket"},
                           credentials={"signingSecret": SECRET}, scopes=("admin",)))
    for conn in (ids.new_id("int"), other, "int_nope", "x" * 300):
        err = assert_error(sim.deliver(admin, conn, sim.payment_event(o["id"], 100)), 404,
                           "NOT_FOUND")
        assert err["message"] == "No inbound connector with this id."
    assert payments(admin, o["id"]) == []


def test_a_paused_connection_answers_503_until_resumed(admin, sim):
    conn, o = connect(admin), an_order(admin)
    assert admin.patch(f"{V}/integrations/{conn}", {"status": "paused"}).status_code == 200
    event = sim.payment_event(o["id"], 100)
    resp = sim.deliver(admin, conn, event)
    assert_error(resp, 503, "SERVICE_UNAVAILABLE")
    assert resp.headers["Retry-After"] == "300"
    assert payments(admin, o["id"]) == []
    assert admin.patch(f"{V}/integrations/{conn}", {"status": "active"}).status_code == 200
    assert sim.deliver(admin, conn, event).json["outcome"] == "recorded"


# ---- what an event asks ----

def test_payments_that_cannot_apply_are_acknowledged_and_logged(admin, sim):
    conn, o = connect(admin), an_order(admin, "10.00")
    cancelled = an_order(admin, "10.00", "MUG-2")
    assert admin.delete(f"{V}/orders/{cancelled['id']}").status_code in (200, 204)
    cases = [
        (sim.payment_event(o["id"], 1001), "The amount exceeds the order's balance."),
        (sim.payment_event(cancelled["id"], 100), "The order is cancelled."),
        (sim.payment_event("ord_unknown", 100), "No order with id ord_unknown."),
        (sim.payment_event(None, 100), "No order id at 'data.object.metadata.orderId'."),
        (sim.payment_event(o["id"], 100, currency="eur"), "Currency 'eur' is not usd."),
        (sim.payment_event(o["id"], 0), "No positive amount at 'data.object.amount'."),
    ]
    for event, reason in cases:
        resp = sim.deliver(admin, conn, event)
        assert resp.status_code == 200, resp.body
        assert (resp.json["outcome"], resp.json["reason"]) == ("rejected", reason)
        again = sim.deliver(admin, conn, event)
        assert again.status_code == 200 and again.json["duplicate"] is True
    assert payments(admin, o["id"]) == [] and payments(admin, cancelled["id"]) == []
    assert outbox_events("payment.received") == []
    entries = logged(admin, conn)
    assert sorted(e["reason"] for e in entries) == sorted(r for _e, r in cases)
    assert {e["outcome"] for e in entries} == {"rejected"}


def test_other_event_types_are_acknowledged_and_ignored(admin, sim):
    conn, o = connect(admin), an_order(admin)
    event = sim.payment_event(o["id"], 100, event_type="charge.refunded")
    resp = sim.deliver(admin, conn, event)
    assert resp.status_code == 200 and resp.json["outcome"] == "ignored", resp.body
    assert payments(admin, o["id"]) == []
    [entry] = logged(admin, conn)
    assert entry["outcome"] == "ignored" and entry["eventType"] == "charge.refunded"


def test_config_paths_read_another_gateways_shape(admin, sim):
    conn = connect(admin, eventIdPath="event.uid", eventTypePath="event.kind",
                   succeededTypes=["payment.updated"], failedTypes=[],
                   statusPath="payment.state", succeededStatuses=["captured"],
                   orderIdPath="payment.refs.0", amountPath="payment.total",
                   amountUnit="major", currencyPath=None, referencePath=None,
                   method="paypal")
    o = an_order(admin)
    event = {"event": {"uid": "e-1", "kind": "payment.updated"},
             "payment": {"state": "captured", "refs": [o["id"]], "total": "7.25"}}
    resp = sim.deliver(admin, conn, event)
    assert resp.json["outcome"] == "recorded", resp.body
    [paid] = payments(admin, o["id"])
    assert (paid["amount"], paid["method"]) == ("7.25", "paypal")
    pending = {"event": {"uid": "e-2", "kind": "payment.updated"},
               "payment": {"state": "pending", "refs": [o["id"]], "total": "1.00"}}
    assert sim.deliver(admin, conn, pending).json["outcome"] == "ignored"


def test_malformed_signature_headers_are_400_and_charged_to_the_ip(admin, sim, monkeypatch):
    from chalicelib.core import clock
    from chalicelib.integrations.gateway import signature

    set_env(monkeypatch, GATEHOUSE_ANONYMOUS_HOURLY_LIMIT="5")
    conn, body = connect(admin), b'{"id":"evt_1","type":"x"}'
    now = clock.now_int()
    good = "v1=" + signature(SECRET, now, body)
    headers = [f"t={now},v1=\u00e9\u00e9",           # non-ASCII v1
               "t=\u00b2\u00b2," + good,             # superscript digits pass isdigit()
               f"t={now},v1=" + "a" * 64 + "\u0100",  # hex then non-ASCII
               f"t={now}," + good[:-1],               # not a whole SHA-256
               f"t={now},v1=" + "g" * 64]             # not hex
    for value in headers:
        err = assert_error(_post(admin, conn, body, {"Content-Type": "application/json",
                                                     "Stripe-Signature": value}),
                           400, "VALIDATION_ERROR")
        assert err["details"][0]["field"] == "Stripe-Signature", value
    # Each one was charged: the sixth failure is over the budget.
    assert _post(admin, conn, body, {"Stripe-Signature": headers[0]}).status_code == 429
    assert logged(admin, conn) == []


def test_an_amount_beyond_decimal_precision_is_rejected_with_the_reason(admin, sim):
    conn = connect(admin, amountUnit="major", currencyPath=None)
    o = an_order(admin)
    for i, total in enumerate(("1e100", "NaN", "-Infinity")):
        event = sim.payment_event(o["id"], 0)
        event["data"]["object"]["amount"] = total
        resp = sim.deliver(admin, conn, event)
        assert resp.status_code == 200, (total, resp.body)
        assert resp.json["outcome"] == "rejected" and "amount" in resp.json["reason"]
    assert payments(admin, o["id"]) == []


@pytest.mark.parametrize(("currency", "minor", "paid"), [
    ("jpy", 500, "500.00"),     # zero-decimal: Stripe's 500 is 500 yen
    ("kwd", 12340, "12.34"),    # three-decimal: thousandths
    ("usd", 1234, "12.34"),
])
def test_minor_units_follow_the_currency(admin, sim, currency, minor, paid):
    conn = connect(admin, currency=currency)
    o = an_order(admin, total="600.00")
    resp = sim.deliver(admin, conn, sim.payment_event(o["id"], minor, currency=currency))
    assert resp.status_code == 200 and resp.json["outcome"] == "recorded", resp.body
    assert [p["amount"] for p in payments(admin, o["id"])] == [paid]


def test_a_three_decimal_amount_below_a_hundredth_is_rejected(admin, sim):
    conn, o = connect(admin, currency="kwd"), an_order(admin)
    resp = sim.deliver(admin, conn, sim.payment_event(o["id"], 12345, currency="kwd"))
    assert resp.json["outcome"] == "rejected" and "amount" in resp.json["reason"]
    assert payments(admin, o["id"]) == []


def test_bodies_without_an_event_id_or_json_are_400(admin, sim):
    conn = connect(admin)
    for body in (b'{"type": "payment_intent.succeeded"}', b"[1, 2]", b"not json",
                 b'{"id": ""}'):
        assert_error(_post(admin, conn, body, sim.headers(body)), 400, "VALIDATION_ERROR")
    huge = b'{"id": "evt_1", "pad": "' + b"x" * (256 * 1024) + b'"}'
    assert_error(_post(admin, conn, huge, sim.headers(huge)), 413, "PAYLOAD_TOO_LARGE")


# ---- whose rights ----
