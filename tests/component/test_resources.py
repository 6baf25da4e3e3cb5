"""Business resources: the generic machinery (products, tickets), orders, customers,
sandbox isolation, scopes; events read from the outbox items written with each change."""

from __future__ import annotations

import json

import pytest

from tests.component.helpers import assert_error, raw_item, snapshot
from tests.conftest import make_user

V = "/api/v1"
# The brief's shape (CONTRACT §7); line1/line2/postalCode are accepted as aliases.
ADDRESS = {"street": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62704-1234",
           "country": "US"}


def outbox_events(event_type=None):
    events = [json.loads(i["event"]) for (pk, _sk), i in snapshot().items()
              if pk.startswith("OUTBOX#")]
    events.sort(key=lambda e: (e["timestamp"], e["id"]))
    return [e for e in events if event_type is None or e["event"] == event_type]


def product(admin, sku="MUG-1", price="12.50", **extra):
    resp = admin.post(f"{V}/products", {"sku": sku, "name": f"Product {sku}", "price": price,
                                         **extra})
    assert resp.status_code == 201, resp.body
    return resp.json["data"]


def customer(admin, email="ada@example.com", **extra):
    resp = admin.post(f"{V}/customers", {"email": email, "name": "Ada Lovelace", **extra})
    assert resp.status_code == 201, resp.body
    return resp.json["data"]


def order(admin, cust, lines):
    resp = admin.post(f"{V}/orders", {"customerId": cust["id"], "shippingAddress": ADDRESS,
                                       "items": lines})
    assert resp.status_code == 201, resp.body
    return resp.json["data"]


def sandbox_key(admin, scopes=("orders:read", "orders:write", "products:read",
                               "products:write", "customers:read", "customers:write")):
    resp = admin.post(f"{V}/api-keys", {"name": "sb", "scopes": list(scopes), "sandbox": True})
    assert resp.status_code == 201, resp.body
    return admin.as_key(resp.json["data"]["key"])


# ---- generic machinery, through products ----

def test_product_crud_with_events_and_audit(admin):
    created = product(admin, category="kitchen", description="A fine mug")
    assert created["price"] == "12.50" and created["id"].startswith("prd_")
    got = admin.get(f"{V}/products/{created['id']}")
    assert got.status_code == 200 and got.json["data"] == created
    item = raw_item(f"PRODUCT#live#{created['id']}", "PRODUCT")
    assert item["price"] == 1250  # cents in the table
    upd = admin.put(f"{V}/products/{created['id']}", {"price": 13.99, "category": None})
    assert upd.status_code == 200, upd.body
    assert upd.json["data"]["price"] == "13.99" and "category" not in upd.json["data"]
    assert admin.delete(f"{V}/products/{created['id']}").status_code == 204
    assert_error(admin.get(f"{V}/products/{created['id']}"), 404, "NOT_FOUND")
    kinds = [e["event"] for e in outbox_events() if e["event"].startswith("product.")]
    assert kinds == ["product.created", "product.updated", "product.deleted"]
    created_event = outbox_events("product.created")[0]
    assert created_event["data"] == created and created_event["sandbox"] is False
    audit = [i for (pk, _), i in snapshot().items() if pk.startswith("AUDIT#")
             and i["targetType"] == "product"]
    assert {a["action"] for a in audit} == {"product.create", "product.update",
                                            "product.delete"}


def test_sku_is_unique_and_freed_on_delete_and_change(admin):
    first = product(admin, "SKU-1")
    assert_error(admin.post(f"{V}/products", {"sku": "sku-1", "name": "x", "price": "1"}),
                 409, "CONFLICT")
    second = product(admin, "SKU-2")
    assert_error(admin.put(f"{V}/products/{second['id']}", {"sku": "SKU-1"}), 409, "CONFLICT")
    assert admin.put(f"{V}/products/{first['id']}", {"sku": "SKU-3"}).status_code == 200
    assert admin.put(f"{V}/products/{second['id']}", {"sku": "SKU-1"}).status_code == 200
    admin.delete(f"{V}/products/{second['id']}")
    product(admin, "SKU-1")


@pytest.mark.parametrize("body,field", [
    ({"name": "x", "price": "1"}, "sku"),
    ({"sku": "A", "name": "", "price": "1"}, "name"),
    ({"sku": "A", "name": "x", "price": "1.999"}, "price"),
    ({"sku": "A", "name": "x", "price": "-1"}, "price"),
    ({"sku": "A", "name": "x", "price": "abc"}, "price"),
    ({"sku": "A", "name": "x", "price": True}, "price"),
    ({"sku": "A b", "name": "x", "price": "1"}, "sku"),
    ({"sku": "A", "name": "x", "price": "1", "colour": "red"}, "colour"),
])
def test_product_validation_writes_nothing(admin, body, field):
    before = snapshot()
    err = assert_error(admin.post(f"{V}/products", body), 422, "VALIDATION_ERROR")
    assert field in [d["field"] for d in err["details"]]
    assert snapshot() == before


def test_update_validation(admin):
    p = product(admin)
    assert_error(admin.put(f"{V}/products/{p['id']}", {}), 422, "VALIDATION_ERROR")
    err = assert_error(admin.put(f"{V}/products/{p['id']}", {"name": None}), 422,
                       "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "name"
    assert_error(admin.put(f"{V}/products/prd_nope", {"name": "x"}), 404, "NOT_FOUND")
    assert_error(admin.delete(f"{V}/products/prd_nope"), 404, "NOT_FOUND")


def test_pagination_filter_sort_fields_search(admin):
    from chalicelib.core import clock

    prices = ["5.00", "1.00", "3.50", "2.25", "4.00"]
    made = []
    for i, price in enumerate(prices):
        made.append(product(admin, f"P-{i}", price, category="a" if i % 2 else "b"))
        clock.advance(1)
    # newest first by default, pages of 2, cursors chain
    seen, cursor = [], None
    for _ in range(3):
        resp = admin.get(f"{V}/products?perPage=2" + (f"&cursor={cursor}" if cursor else ""))
        body = resp.json
        seen += [p["id"] for p in body["data"]]
        cursor = body["pagination"]["nextCursor"]
        assert body["pagination"]["perPage"] == 2
        assert body["pagination"]["hasMore"] == (cursor is not None)
    assert seen == [p["id"] for p in reversed(made)] and cursor is None
    asc = admin.get(f"{V}/products?sort=price&order=asc&fields=sku,price").json["data"]
    assert [p["price"] for p in asc] == sorted(prices, key=float)
    assert set(asc[0]) == {"sku", "price"}
    desc = admin.get(f"{V}/products?sort=price&perPage=2").json
    assert [p["price"] for p in desc["data"]] == ["5.00", "4.00"]
    nxt = admin.get(f"{V}/products?sort=price&perPage=2&cursor="
                    f"{desc['pagination']['nextCursor']}").json["data"]
    assert [p["price"] for p in nxt] == ["3.50", "2.25"]
    # a cursor of another sort is refused
    assert_error(admin.get(f"{V}/products?cursor={desc['pagination']['nextCursor']}"), 400,
                 "VALIDATION_ERROR")
    ranged = admin.get(f"{V}/products?priceMin=2.25&priceMax=4").json["data"]
    assert sorted(p["price"] for p in ranged) == ["2.25", "3.50", "4.00"]
    cat = admin.get(f"{V}/products?category=a&perPage=1").json
    assert len(cat["data"]) == 1 and cat["pagination"]["hasMore"]
    assert {p["category"] for p in admin.get(f"{V}/products?category=a").json["data"]} == {"a"}
    assert len(admin.get(f"{V}/products?category=a,b").json["data"]) == 5
    found = admin.get(f"{V}/products?q=p-3").json["data"]
    assert [p["sku"] for p in found] == ["P-3"]
    after = made[2]["createdAt"]
    window = admin.get(f"{V}/products?createdAfter={after}&createdBefore="
                       f"{made[4]['createdAt']}").json["data"]
    assert [p["sku"] for p in window] == ["P-3", "P-2"]
    one = admin.get(f"{V}/products/{made[0]['id']}?fields=id,name").json["data"]
    assert one == {"id": made[0]["id"], "name": "Product P-0"}


@pytest.mark.parametrize("query", ["fields=id,nope", "sort=name", "order=sideways",
                                   "perPage=0", "perPage=101", "priceMin=abc",
                                   "priceMin=5&priceMax=1", "cursor=!!!",
                                   "createdAfter=yesterday"])
def test_bad_list_queries(admin, query):
    assert_error(admin.get(f"{V}/products?{query}"), 400, "VALIDATION_ERROR")


def test_selective_filter_reads_a_bounded_amount_per_page(admin, monkeypatch):
    """A filter matching few of many items answers short pages with a cursor where the
    reading stopped (each request reads at most the budget); following the cursors
    finds every match once, in order."""
    from chalicelib.store import table as store

    for i in range(14):
        product(admin, sku=f"F-{i:02d}", category="rare" if i in (1, 12) else "common")
    calls = []
    real_query = store.table().query

    def counting(**kw):
        resp = real_query(**kw)
        calls.append(len(resp.get("Items", [])))
        return resp

    monkeypatch.setattr(store, "FILTER_READ_STEP", 3)
    monkeypatch.setattr(store, "FILTER_READ_BUDGET", 6)
    monkeypatch.setattr(store.table(), "query", counting)
    found, pages, cursor = [], 0, None
    while True:
        url = f"{V}/products?category=rare&order=asc&perPage=5" + (
            f"&cursor={cursor}" if cursor else "")
        calls.clear()
        page = admin.get(url).json
        assert calls and sum(calls) <= 6, calls  # the budget, never the whole listing
        pages += 1
        found += [p["sku"] for p in page["data"]]
        cursor = page["pagination"]["nextCursor"]
        assert page["pagination"]["hasMore"] == bool(cursor)
        if not cursor:
            break
    assert found == ["F-01", "F-12"]
    assert pages >= 3  # 14 items at 6 a request


def test_unknown_filter_values_refused(admin):
    assert_error(admin.get(f"{V}/orders?status=pending,lost"), 400, "VALIDATION_ERROR")
    # Range bounds far outside what a value can be (found by schemathesis: a 500 before).
    for query in ("totalMax=-3.402823466e%2B38", "totalMin=1e40", "priceMax=NaN",
                  "itemCountMin=-421342"):
        path = "products" if "price" in query else "orders"
        assert_error(admin.get(f"{V}/{path}?{query}"), 400, "VALIDATION_ERROR")


# ---- scopes and sandbox ----

def test_viewer_reads_but_cannot_write(admin):
    p = product(admin)
    viewer, _ = make_user(admin, "vic", ["viewer"])
    assert viewer.get(f"{V}/products/{p['id']}").status_code == 200
    before = snapshot()
    for resp in (viewer.post(f"{V}/products", {"sku": "X", "name": "x", "price": "1"}),
                 viewer.put(f"{V}/products/{p['id']}", {"name": "y"}),
                 viewer.delete(f"{V}/products/{p['id']}"),
                 viewer.post(f"{V}/tickets", {"subject": "s"})):
        assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert {k: v for k, v in snapshot().items() if not k[0].startswith(("AUDIT#", "SESSION#",
                                                                        "USER", "RT#"))} \
        == {k: v for k, v in before.items() if not k[0].startswith(("AUDIT#", "SESSION#",
                                                                    "USER", "RT#"))}


def test_missing_scope_for_another_resource(admin):
    from tests.component.helpers import client_grant, make_client

    cid, secret = make_client(admin, ["orders:read"])
    bearer = admin.as_bearer(client_grant(admin, cid, secret).json["access_token"])
    assert bearer.get(f"{V}/orders").status_code == 200
    assert_error(bearer.get(f"{V}/products"), 403, "AUTHORIZATION_ERROR")


def test_sandbox_sees_only_sandbox(admin):
    live_p = product(admin, "LIVE-1")
    live_c = customer(admin)
    live_o = order(admin, live_c, [{"productId": live_p["id"], "quantity": 1, "price": "1"}])
    sandbox = sandbox_key(admin)
    assert_error(sandbox.get(f"{V}/orders/{live_o['id']}"), 404, "NOT_FOUND")
    assert_error(sandbox.get(f"{V}/products/{live_p['id']}"), 404, "NOT_FOUND")
    assert sandbox.get(f"{V}/orders").json["data"] == []
    # the same sku and email are free in the sandbox; live ids do not resolve there
    sb_p = product(sandbox, "LIVE-1")
    sb_c = customer(sandbox)
    err = assert_error(sandbox.post(f"{V}/orders", {
        "customerId": live_c["id"], "shippingAddress": ADDRESS,
        "items": [{"productId": live_p["id"], "quantity": 1, "price": "1"}]}), 422,
        "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "customerId"
    sb_o = order(sandbox, sb_c, [{"productId": sb_p["id"], "quantity": 2, "price": "1"}])
    assert_error(admin.get(f"{V}/orders/{sb_o['id']}"), 404, "NOT_FOUND")
    assert_error(admin.put(f"{V}/products/{sb_p['id']}", {"name": "x"}), 404, "NOT_FOUND")
    assert [o["id"] for o in admin.get(f"{V}/orders").json["data"]] == [live_o["id"]]
    assert [o["id"] for o in sandbox.get(f"{V}/orders").json["data"]] == [sb_o["id"]]
    assert raw_item(f"ORDER#sandbox#{sb_o['id']}", "ORDER") is not None
    flags = {e["data"]["id"]: e["sandbox"] for e in outbox_events("order.created")}
    assert flags == {live_o["id"]: False, sb_o["id"]: True}


# ---- orders ----

def test_order_totals_and_events(admin):
    p1, p2 = product(admin, "A", "19.99"), product(admin, "B", "0.10")
    c = customer(admin)
    o = order(admin, c, [{"productId": p1["id"], "quantity": 3, "price": "19.99"},
                         {"productId": p2["id"], "quantity": 7, "price": 0.1}])
    assert o["status"] == "pending" and o["itemCount"] == 10
    assert o["subtotal"] == o["total"] == "60.67"  # 59.97 + 0.70, no float drift
    assert [i["lineTotal"] for i in o["items"]] == ["59.97", "0.70"]
    assert o["amountPaid"] == "0.00" and o["paymentStatus"] == "unpaid"
    assert outbox_events("order.created")[0]["data"] == o
    upd = admin.put(f"{V}/orders/{o['id']}", {"items": [{"productId": p2["id"], "quantity": 1,
                                                         "price": "0.10"}]})
    assert upd.status_code == 200 and upd.json["data"]["total"] == "0.10"
    assert len(outbox_events("order.updated")) == 1


def test_order_address_in_the_briefs_shape(admin):
    """The brief's example address (no country) is accepted as written and answered in
    the same shape; the earlier names are aliases, answered in the brief's shape."""
    p, c = product(admin), customer(admin)
    brief = {"street": "123 Main St", "city": "New York", "state": "NY", "zip": "10001"}
    o = admin.post(f"{V}/orders", {"customerId": c["id"], "shippingAddress": brief,
                                   "items": [{"productId": p["id"], "quantity": 2,
                                              "price": 29.99}]})
    assert o.status_code == 201, o.body
    assert o.json["data"]["shippingAddress"] == brief and o.json["data"]["total"] == "59.98"
    assert outbox_events("order.created")[0]["data"]["shippingAddress"] == brief
    legacy = {"line1": "1 Old Rd", "line2": "Flat 2", "city": "Leeds", "postalCode": "LS1",
              "country": "GB"}
    upd = admin.put(f"{V}/orders/{o.json['data']['id']}", {"shippingAddress": legacy})
    assert upd.status_code == 200, upd.body
    assert upd.json["data"]["shippingAddress"] == {"street": "1 Old Rd", "street2": "Flat 2",
                                                   "city": "Leeds", "zip": "LS1",
                                                   "country": "GB"}
    for bad in ({**brief, "line1": "x"}, {**brief, "suite": "4"},
                {"street": "x", "city": "y"}):
        err = assert_error(admin.put(f"{V}/orders/{o.json['data']['id']}",
                                     {"shippingAddress": bad}), 422, "VALIDATION_ERROR")
        assert err["details"][0]["field"].startswith("shippingAddress"), err


@pytest.mark.parametrize("mutate,field", [
    (lambda b: b.pop("customerId"), "customerId"),
    (lambda b: b.update(items=[]), "items"),
    (lambda b: b["items"][0].update(quantity=0), "items.0.quantity"),
    (lambda b: b["items"][0].update(quantity="2"), "items.0.quantity"),
    (lambda b: b["items"][0].update(price="1.234"), "items.0.price"),
    (lambda b: b["shippingAddress"].pop("city"), "shippingAddress.city"),
    (lambda b: b["shippingAddress"].update(country="usa"), "shippingAddress.country"),
    (lambda b: b.update(customerId="cus_missing"), "customerId"),
    (lambda b: b["items"][0].update(productId="prd_missing"), "items.0.productId"),
])
def test_order_validation_writes_nothing(admin, mutate, field):
    p, c = product(admin), customer(admin)
    body = {"customerId": c["id"], "shippingAddress": dict(ADDRESS),
            "items": [{"productId": p["id"], "quantity": 1, "price": "1.00"}]}
    mutate(body)
    before = snapshot()
    err = assert_error(admin.post(f"{V}/orders", body), 422, "VALIDATION_ERROR")
    assert field in [d["field"] for d in err["details"]], err
    assert snapshot() == before


def test_status_transitions(admin):
    p, c = product(admin), customer(admin)
    o = order(admin, c, [{"productId": p["id"], "quantity": 1, "price": "1"}])
    path = f"{V}/orders/{o['id']}/status"
    assert_error(admin.patch(path, {"status": "shipped"}), 409, "CONFLICT")
    for status in ("confirmed", "processing", "shipped", "delivered"):
        resp = admin.patch(path, {"status": status})
        assert resp.status_code == 200 and resp.json["data"]["status"] == status
    err = assert_error(admin.patch(path, {"status": "cancelled"}), 409, "CONFLICT")
    assert err["details"][0]["allowed"] == []
    assert_error(admin.patch(path, {"status": "lost"}), 422, "VALIDATION_ERROR")
    changes = outbox_events("order.status_changed")
    assert [(e["data"]["previousStatus"], e["data"]["status"]) for e in changes] == [
        ("pending", "confirmed"), ("confirmed", "processing"), ("processing", "shipped"),
        ("shipped", "delivered")]
    assert_error(admin.put(f"{V}/orders/{o['id']}", {"shippingAddress": ADDRESS}), 409,
                 "CONFLICT")
    assert_error(admin.patch(f"{V}/orders/ord_nope/status", {"status": "confirmed"}), 404,
                 "NOT_FOUND")


def test_delete_cancels_softly(admin):
    p, c = product(admin), customer(admin)
    o = order(admin, c, [{"productId": p["id"], "quantity": 1, "price": "1"}])
    admin.patch(f"{V}/orders/{o['id']}/status", {"status": "confirmed"})
    resp = admin.delete(f"{V}/orders/{o['id']}")
    assert resp.status_code == 200 and resp.json["data"]["status"] == "cancelled"
    assert resp.json["data"]["cancelledAt"]
    assert admin.get(f"{V}/orders/{o['id']}").json["data"]["status"] == "cancelled"
    assert len(outbox_events("order.cancelled")) == 1
    assert_error(admin.delete(f"{V}/orders/{o['id']}"), 409, "CONFLICT")
    assert_error(admin.patch(f"{V}/orders/{o['id']}/status", {"status": "shipped"}), 409,
                 "CONFLICT")
    assert admin.get(f"{V}/orders?status=cancelled").json["data"][0]["id"] == o["id"]
    assert admin.get(f"{V}/orders?status=pending").json["data"] == []


def test_payments(admin):
    p, c = product(admin), customer(admin)
    o = order(admin, c, [{"productId": p["id"], "quantity": 2, "price": "10.00"}])
    path = f"{V}/orders/{o['id']}/payments"
    failed = admin.post(path, {"amount": "20.00", "method": "card", "status": "failed"})
    assert failed.status_code == 201 and failed.json["data"]["status"] == "failed"
    paid = admin.post(path, {"amount": "15.00", "method": "card", "reference": "ch_1"})
    assert paid.status_code == 201 and paid.json["data"]["amount"] == "15.00"
    got = admin.get(f"{V}/orders/{o['id']}").json["data"]
    assert got["amountPaid"] == "15.00" and got["paymentStatus"] == "partial"
    assert_error(admin.post(path, {"amount": "5.01", "method": "card"}), 409, "CONFLICT")
    for bad in ({"amount": "0", "method": "card"}, {"amount": "5", "method": "barter"},
                {"amount": "5", "method": "card", "status": "maybe"}, {"method": "card"}):
        assert_error(admin.post(path, bad), 422, "VALIDATION_ERROR")
    admin.post(path, {"amount": "5", "method": "cash"})
    assert admin.get(f"{V}/orders/{o['id']}").json["data"]["paymentStatus"] == "paid"
    listed = admin.get(path).json["data"]
    assert [x["status"] for x in listed] == ["failed", "succeeded", "succeeded"]
    assert [e["data"]["amount"] for e in outbox_events("payment.received")] == ["15.00",
                                                                              "5.00"]
    assert [e["data"]["orderId"] for e in outbox_events("payment.failed")] == [o["id"]]
    assert_error(admin.post(f"{V}/orders/ord_nope/payments", {"amount": "1",
                                                              "method": "card"}),
                 404, "NOT_FOUND")
    admin.patch(f"{V}/orders/{o['id']}/status", {"status": "cancelled"})
    assert_error(admin.post(path, {"amount": "1", "method": "card", "status": "failed"}),
                 409, "CONFLICT")


# ---- customers ----

def test_customer_erasure_keeps_orders_consistent(admin):
    p = product(admin)
    c = customer(admin, "Grace@Example.com", phone="+1 555 0100")
    assert_error(admin.post(f"{V}/customers", {"email": "grace@example.COM", "name": "G"}),
                 409, "CONFLICT")
    o = order(admin, c, [{"productId": p["id"], "quantity": 1, "price": "1"}])
    resp = admin.delete(f"{V}/customers/{c['id']}")
    assert resp.status_code == 200, resp.body
    erased = resp.json["data"]
    assert erased["id"] == c["id"] and erased["status"] == "erased" and erased["erasedAt"]
    assert erased["name"] == "[erased]" and "email" not in erased and "phone" not in erased
    # Business items and the events raised before (rewritten too)
    stored = json.dumps(list(snapshot().values()), default=str).lower()
    assert "grace@example.com" not in stored and "555 0100" not in stored
    assert "1 main st" not in stored and "62704-1234" not in stored  # the order's copy
    kept = admin.get(f"{V}/orders/{o['id']}").json["data"]
    assert kept["customerId"] == c["id"] and kept["total"] == "1.00"
    assert "shippingAddress" not in kept and kept["personalDataErasedAt"]
    event = outbox_events("customer.deleted")
    assert len(event) == 1 and event[0]["data"] == {"id": c["id"],
                                                    "erasedAt": erased["erasedAt"]}
    # repeatable, no second event; email free again; no new orders for the erased customer
    assert admin.delete(f"{V}/customers/{c['id']}").status_code == 200
    assert len(outbox_events("customer.deleted")) == 1
    customer(admin, "grace@example.com")
    assert_error(admin.put(f"{V}/customers/{c['id']}", {"name": "Back"}), 409, "CONFLICT")
    assert_error(admin.post(f"{V}/orders", {
        "customerId": c["id"], "shippingAddress": ADDRESS,
        "items": [{"productId": p["id"], "quantity": 1, "price": "1"}]}), 422,
        "VALIDATION_ERROR")
    assert_error(admin.delete(f"{V}/customers/cus_nope"), 404, "NOT_FOUND")


def test_customer_erasure_reaches_past_events_and_deliveries(admin, monkeypatch):
    """The outbox events and the webhook deliveries made before the erasure hold copies
    of the personal data (the deliveries API shows payloads): erasure rewrites them."""
    from chalicelib.webhooks import worker
    from tests.component.helpers import set_env
    from tests.webhook_receiver import Receiver

    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    with Receiver() as rcv:
        hook = admin.post(f"{V}/webhooks", {"url": rcv.url, "events": [
            "customer.created", "customer.updated", "order.created", "product.created"]})
        assert hook.status_code == 201, hook.body
        hook_id = hook.json["data"]["id"]
        p = product(admin)
        c = customer(admin, "Hedy@Example.com", phone="+1 555 0199")
        other = customer(admin, "keep@example.com")
        admin.put(f"{V}/customers/{c['id']}", {"name": "Hedy L."})
        o = order(admin, c, [{"productId": p["id"], "quantity": 1, "price": "1"}])
        admin.patch(f"{V}/orders/{o['id']}/status", {"status": "cancelled"})
        fanned = [{"messageId": e["id"], "body": json.dumps(e)} for e in outbox_events()]
        assert worker.fan_out_batch({"Records": fanned}) == {"batchItemFailures": []}
        queued = drain_queue("webhooks")
        assert worker.deliver_batch({"Records": queued}) == {"batchItemFailures": []}
        assert len(rcv.wait_for(5)) == 5
    before = json.dumps(list(snapshot().values()), default=str).lower()
    assert "hedy@example.com" in before and "1 main st" in before  # the copies exist

    assert admin.delete(f"{V}/customers/{c['id']}").status_code == 200
    after = json.dumps(list(snapshot().values()), default=str).lower()
    for secret in ("hedy@example.com", "555 0199", "hedy l", "1 main st", "62704-1234"):
        assert secret not in after, secret
    assert "keep@example.com" in after  # another customer's data is untouched
    dels = admin.get(f"{V}/webhooks/{hook_id}/deliveries?perPage=10").json["data"]
    assert {d["status"] for d in dels} == {"delivered"} and len(dels) == 5
    mine = [admin.get(f"{V}/webhooks/{hook_id}/deliveries/{d['id']}").json["data"]
            for d in dels if d["event"] in ("customer.created", "customer.updated")]
    erased = [d["payload"]["data"] for d in mine if d["payload"]["data"]["id"] == c["id"]]
    assert len(erased) == 2 and all(d["name"] == "[erased]" and "email" not in d
                                    and "phone" not in d for d in erased), erased
    assert [d["payload"]["data"]["email"] for d in mine
            if d["payload"]["data"]["id"] == other["id"]] == ["keep@example.com"]
    created = outbox_events("order.created")[0]
    assert created["data"]["customerId"] == c["id"] and "shippingAddress" not in created["data"]
    assert admin.delete(f"{V}/customers/{c['id']}").status_code == 200  # repeatable


def drain_queue(name):
    import boto3

    from chalicelib.core.aws import queue_url

    sqs = boto3.client("sqs", region_name="us-east-1")
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queue_url(name), MaxNumberOfMessages=10).get(
            "Messages", [])
        if not got:
            return out
        out += [{"messageId": m["MessageId"], "body": m["Body"]} for m in got]


def test_customer_search_and_validation(admin):
    customer(admin, "ada@example.com")
    customer(admin, "bob@example.org")
    assert [c["email"] for c in admin.get(f"{V}/customers?q=EXAMPLE.ORG").json["data"]] == [
        "bob@example.org"]
    for bad in ({"email": "nope", "name": "x"}, {"email": "a@b.cd", "name": ""},
                {"email": "a@b.cd", "name": "x", "phone": "call me"}):
        assert_error(admin.post(f"{V}/customers", bad), 422, "VALIDATION_ERROR")


# ---- tickets: a resource in a few dozen lines ----

def test_tickets(admin):
    t = admin.post(f"{V}/tickets", {"subject": "Late parcel", "priority": "high"})
    assert t.status_code == 201, t.body
    tid = t.json["data"]["id"]
    assert t.json["data"]["status"] == "open"
    admin.put(f"{V}/tickets/{tid}", {"assignee": "sam"})
    admin.put(f"{V}/tickets/{tid}", {"priority": "urgent"})
    assert admin.patch(f"{V}/tickets/{tid}/status", {"status": "resolved"}).status_code == 200
    assert_error(admin.patch(f"{V}/tickets/{tid}/status", {"status": "pending"}), 409,
                 "CONFLICT")
    assert_error(admin.put(f"{V}/tickets/{tid}", {"status": "closed"}), 422,
                 "VALIDATION_ERROR")
    kinds = [e["event"] for e in outbox_events() if e["event"].startswith("ticket.")]
    assert sorted(kinds) == sorted(["ticket.created", "ticket.updated", "ticket.assigned",
                                    "ticket.updated", "ticket.status_changed"])
    assert admin.get(f"{V}/tickets?priority=urgent&status=resolved").json["data"][0]["id"] \
        == tid
    later = admin.post(f"{V}/tickets", {"subject": "Changed last"}).json["data"]["id"]
    for order, expected in (("asc", [tid, later]), ("desc", [later, tid])):
        got = admin.get(f"{V}/tickets?sort=updatedAt&order={order}").json["data"]
        assert [t["id"] for t in got] == expected, order


def test_catalog_lists_every_resource_event(api):
    from chalicelib.events import catalog

    names = {"order.created", "order.updated", "order.cancelled", "order.status_changed",
             "payment.received", "payment.failed", "product.created", "product.updated",
             "product.deleted", "customer.created", "customer.updated", "customer.deleted",
             "inventory.updated", "inventory.low", "ticket.created", "ticket.updated",
             "ticket.status_changed", "ticket.assigned"}
    described = {e["type"]: e for e in catalog.describe()}
    assert names <= set(described)
    for name in names:
        assert described[name]["schema"]["properties"] and described[name]["example"]["data"]


def test_a_cursor_only_reads_the_listing_it_came_from(admin):
    """Checked in store.query_page for every listing: another sort's cursor, or another
    owner's, is refused rather than read from."""
    for i in range(3):
        product(admin, sku=f"CUR-{i}")
    page = admin.get(f"{V}/products?perPage=1&sort=createdAt").json
    cursor = page["pagination"]["nextCursor"]
    assert cursor
    assert_error(admin.get(f"{V}/products?perPage=1&sort=name&cursor={cursor}"), 400,
                 "VALIDATION_ERROR")
    alice, _ = make_user(admin, "alice-cur", ["integrator"])
    bob, _ = make_user(admin, "bob-cur", ["integrator"])
    for i in range(2):
        assert alice.post(f"{V}/webhooks", {"url": f"https://example.com/{i}",
                                            "events": ["*"]}).status_code == 201
    mine = alice.get(f"{V}/webhooks?perPage=1").json["pagination"]["nextCursor"]
    assert mine and alice.get(f"{V}/webhooks?perPage=1&cursor={mine}").status_code == 200
    assert_error(bob.get(f"{V}/webhooks?perPage=1&cursor={mine}"), 400, "VALIDATION_ERROR")
