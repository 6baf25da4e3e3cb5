"""Every event the system emits is what GET /webhooks/events publishes: each payload, as
written to the outbox, validates against its type's JSON Schema from the catalog route,
read strictly (no property the schema does not name), and every declared type is emitted
by some change below (a type nothing emits has no place in the catalog)."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from tests.component.helpers import resolve_example_com_publicly, snapshot
from tests.component.test_exports import completed_and_failed_exports
from tests.component.test_imports import a_completed_import
from tests.component.test_resources import ADDRESS, V, customer, product

HOOK_URL = "https://hooks.example.com/events"


def strict(schema: Any) -> Any:
    """The schema, with every object that names its properties closed to others: a
    payload field its model does not declare is drift too."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def published(admin: Any) -> dict[str, dict[str, Any]]:
    resp = admin.get("/api/v2/webhooks/events")
    assert resp.status_code == 200, resp.body
    return {e["type"]: e["schema"] for e in resp.json["data"]}


def emitted() -> list[dict[str, Any]]:
    events = [json.loads(i["event"]) for (pk, _), i in snapshot().items()
              if pk.startswith("OUTBOX#")]
    return sorted(events, key=lambda e: (e["timestamp"], e["id"]))


def ok(resp: Any, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, resp.body
    return dict(resp.json["data"])


def every_change(admin: Any) -> dict[str, dict[str, Any]]:
    """Each kind of change the API offers, once; answers what some of them answered."""
    answers: dict[str, dict[str, Any]] = {}
    # products: create, update, delete
    prd = product(admin, "EVT-1", category="kitchen", description="d")
    answers["product.created"] = prd
    ok(admin.put(f"{V}/products/{prd['id']}", {"price": "14.00", "category": None}))
    other = product(admin, "EVT-2")
    assert admin.delete(f"{V}/products/{other['id']}").status_code == 204
    # customers: create, update, erase (after an order that carries their address; the
    # copies of their data in past events are rewritten, so the others are compared)
    cus = customer(admin, "ev@example.com", phone="+44 20 7946 0000")
    answers["customer.created"] = cus
    ok(admin.put(f"{V}/customers/{cus['id']}", {"name": "Eve Renamed"}))
    line = {"productId": prd["id"], "quantity": 2, "price": "14.00"}
    gone = customer(admin, "gone@example.com")
    ok(admin.post(f"{V}/orders", {"customerId": gone["id"], "items": [line],
                                  "shippingAddress": ADDRESS}), 201)
    ok(admin.delete(f"{V}/customers/{gone['id']}"))
    # orders: create, update, every status to delivered, payments, cancel
    order = ok(admin.post(f"{V}/orders", {"customerId": cus["id"], "items": [line],
                                          "shippingAddress": ADDRESS}), 201)
    answers["order.created"] = order
    ok(admin.put(f"{V}/orders/{order['id']}", {"items": [{**line, "quantity": 3}]}))
    ok(admin.post(f"{V}/orders/{order['id']}/payments",
                  {"amount": "10.00", "method": "card", "reference": "ch_1"}), 201)
    ok(admin.post(f"{V}/orders/{order['id']}/payments",
                  {"amount": "5.00", "method": "paypal", "status": "failed"}), 201)
    for status in ("confirmed", "processing", "shipped", "delivered"):
        answers[f"order.{status}"] = ok(admin.patch(f"{V}/orders/{order['id']}/status",
                                                    {"status": status}))
    doomed = ok(admin.post(f"{V}/orders", {"customerId": cus["id"], "items": [line],
                                           "shippingAddress": ADDRESS}), 201)
    answers["order.cancelled"] = ok(admin.delete(f"{V}/orders/{doomed['id']}"))
    # inventory: set, change, reserve across the threshold, release
    answers["inventory.created"] = ok(admin.post(
        f"{V}/inventory", {"sku": "EVT-SKU", "quantity": 20, "lowStockThreshold": 5}), 201)
    ok(admin.put(f"{V}/inventory/EVT-SKU", {"quantity": 30}))
    ok(admin.patch(f"{V}/inventory/EVT-SKU/reserve", {"quantity": 26}))
    ok(admin.patch(f"{V}/inventory/EVT-SKU/release", {"quantity": 1}))
    # tickets: create (assigned), update, reassign, every status
    tkt = ok(admin.post(f"{V}/tickets", {"subject": "Late", "assignee": "sam",
                                         "customerId": "cus_x"}), 201)
    answers["ticket.created"] = tkt
    ok(admin.put(f"{V}/tickets/{tkt['id']}", {"priority": "urgent", "assignee": "kim"}))
    for status in ("pending", "open", "resolved", "closed"):
        answers[f"ticket.{status}"] = ok(admin.patch(f"{V}/tickets/{tkt['id']}/status",
                                                     {"status": status}))
    # the platform's own: a test event, the warning before disabling, the disabling
    hook = ok(admin.post("/api/v1/webhooks", {"url": HOOK_URL, "events": ["*"]}), 201)
    assert admin.post(f"/api/v1/webhooks/{hook['id']}/test").status_code == 202
    from chalicelib.core import clock
    from chalicelib.webhooks import service as webhooks

    assert webhooks.warn_disabling(hook["id"], clock.now() + 86400)
    assert webhooks.disable(hook["id"], "endpoint answered 410 Gone")
    completed_and_failed_exports(admin)  # export.completed, export.failed
    a_completed_import(admin)  # import.completed
    return answers


def test_every_event_emitted_matches_the_published_catalog(admin: Any,
                                                          monkeypatch: Any) -> None:
    resolve_example_com_publicly(monkeypatch)
    answers = every_change(admin)
    found, schemas = emitted(), published(admin)

    # each payload validates against its type's published schema, read strictly
    failures = []
    for event in found:
        assert set(event) >= {"id", "event", "timestamp", "data"}, event
        schema = schemas.get(event["event"])
        assert schema is not None, f"{event['event']} is emitted but not in the catalog"
        validator = Draft202012Validator(strict(schema))
        failures += [f"{event['event']}: {'/'.join(map(str, e.absolute_path)) or '.'}: "
                     f"{e.message}" for e in validator.iter_errors(event["data"])]
    assert not failures, "\n".join(failures)

    # every declared type is emitted by some change
    assert {e["event"] for e in found} == set(schemas)

    # The model builds the data: a field the answer has and the model lacks would be
    # dropped from the event, which the schema alone cannot show. Representation events
    # carry exactly what the API answered.
    by_id: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in found:
        by_id.setdefault((e["event"], str(e["data"].get("id"))), []).append(e["data"])
    for kind in ("product", "customer", "order", "ticket"):
        made = answers[f"{kind}.created"]
        assert by_id[(f"{kind}.created", made["id"])] == [made]
    assert by_id[("inventory.updated", "EVT-SKU")][0] == answers["inventory.created"]
    for kind, statuses in (("order", ("confirmed", "processing", "shipped", "delivered")),
                           ("ticket", ("pending", "open", "resolved", "closed"))):
        for status in statuses:
            answer = answers[f"{kind}.{status}"]
            assert answer[f"{status}At"]
            changes = [d for d in by_id[(f"{kind}.status_changed", answer["id"])]
                       if d["status"] == status]
            assert [{k: v for k, v in d.items() if k != "previousStatus"}
                    for d in changes] == [answer]
    cancelled = answers["order.cancelled"]
    assert by_id[("order.cancelled", cancelled["id"])] == [cancelled]
