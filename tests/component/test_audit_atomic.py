"""Audit entries are written with their change, all or nothing (issue 7, 7b).

Each test makes the write of the audit item fail, as a crash at that moment would, and
checks that the change and its audit entry are both there or both missing. Before the
fix the change committed first and the entry was written afterwards on its own, so the
change landed and its entry was lost; now the entry is an item of the change's own
transaction, so the failing write takes the change with it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.component.helpers import snapshot
from tests.component.test_resources import customer, order, product
from tests.component.test_webhooks import _no_dns  # noqa: F401 - fixture: example.com resolves
from tests.component.test_webhooks import create as create_webhook
from tests.component.test_webhooks import item as webhook_item

V = "/api/v1"


class Crash(RuntimeError):
    """The process dies while writing an audit entry."""


def _has_audit(items: list[dict[str, Any]]) -> bool:
    return any(str(i.get("PK", "")).startswith("AUDIT#") for i in items)


@pytest.fixture
def crash_at_audit(monkeypatch: Any) -> Any:
    """Arms a crash at any DynamoDB write that carries an audit item (alone or inside a
    transaction); answers a function that arms it."""
    from chalicelib.store import table as store

    real_transact, real_put = store.transact, store.put

    def transact(ops: list[dict[str, Any]]) -> None:
        if _has_audit([body.get("Item", {}) for op in ops for body in op.values()]):
            raise Crash("died while writing the audit entry")
        real_transact(ops)

    def put(item: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if _has_audit([item]):
            raise Crash("died while writing the audit entry")
        return real_put(item, *args, **kwargs)

    def arm() -> None:
        monkeypatch.setattr(store, "transact", transact)
        monkeypatch.setattr(store, "put", put)

    return arm


def entries(action: str, target_id: str | None = None) -> int:
    return sum(1 for (pk, _), i in snapshot().items() if pk.startswith("AUDIT#")
               and i.get("action") == action
               and (target_id is None or i.get("targetId") == target_id))


class Step:
    """One change under the armed crash: counts its action's entries before and after."""

    def __init__(self, action: str, target_id: str | None = None) -> None:
        self.action, self.target_id = action, target_id
        self.before = entries(action, target_id)

    def all_or_nothing(self, changed: bool) -> None:
        logged = entries(self.action, self.target_id) > self.before
        assert changed == logged, (
            f"{self.action}: change {'landed' if changed else 'missing'} but its audit "
            f"entry {'is there' if logged else 'is lost'}")


def _call(fn: Any, *args: Any) -> None:
    """A request through the app answers 500; a service call raises Crash."""
    try:
        resp = fn(*args)
    except Crash:
        return
    assert resp.status_code >= 500, resp.body


def _stored(pk: str, sk: str) -> dict[str, Any] | None:
    return snapshot().get((pk, sk))


def test_resource_writes_and_their_audit_entries_are_all_or_nothing(admin, crash_at_audit):
    """create, update, status change, delete of business records (the outbox's
    transaction)."""
    kept = product(admin, "KEEP-1")
    placed = order(admin, customer(admin),
                   [{"productId": kept["id"], "quantity": 1, "price": "1.00"}])
    gone = product(admin, "GONE-1")
    crash_at_audit()

    step = Step("product.create")
    _call(admin.post, f"{V}/products", {"sku": "NEW-1", "name": "Mug", "price": "3.00"})
    step.all_or_nothing(any(pk.startswith("PRODUCT#") and i.get("sku") == "NEW-1"
                            for (pk, _), i in snapshot().items()))

    step = Step("product.update", kept["id"])
    _call(admin.put, f"{V}/products/{kept['id']}", {"price": "9.99"})
    now = _stored(f"PRODUCT#live#{kept['id']}", "PRODUCT")
    step.all_or_nothing(now is not None and now["price"] == 999)

    step = Step("order.status", placed["id"])
    _call(admin.patch, f"{V}/orders/{placed['id']}/status", {"status": "confirmed"})
    now = _stored(f"ORDER#live#{placed['id']}", "ORDER")
    step.all_or_nothing(now is not None and now["status"] == "confirmed")

    step = Step("product.delete", gone["id"])
    _call(admin.delete, f"{V}/products/{gone['id']}")
    step.all_or_nothing(_stored(f"PRODUCT#live#{gone['id']}", "PRODUCT") is None)


def test_inventory_reserve_release_and_their_audit_entries_are_all_or_nothing(
        admin, crash_at_audit):
    """reserve (staying above the threshold, and crossing it) and release."""
    resp = admin.post(f"{V}/inventory", {"sku": "INV-1", "quantity": 10,
                                         "lowStockThreshold": 2})
    assert resp.status_code == 201, resp.body
    assert admin.patch(f"{V}/inventory/INV-1/reserve", {"quantity": 4}).status_code == 200
    crash_at_audit()

    def reserved() -> Any:
        now = _stored("INVENTORY#live#INV-1", "INVENTORY")
        assert now is not None
        return now["reserved"]

    for action, quantity, after in (("reserve", 3, 7),   # stays above the threshold
                                    ("reserve", 6, 10),  # crosses it (inventory.low)
                                    ("release", 2, 2)):
        step = Step(f"inventory.{action}", "INV-1")
        _call(admin.patch, f"{V}/inventory/INV-1/{action}", {"quantity": quantity})
        step.all_or_nothing(reserved() == after)
        if reserved() != after:
            assert reserved() == 4  # nothing half-done


def test_webhook_changes_and_their_audit_entries_are_all_or_nothing(admin, crash_at_audit):
    """create, update, rotate_secret, test event (its outbox item), disabling warning,
    disable, delete."""
    from chalicelib.webhooks import service

    base = f"{V}/webhooks"
    hook, other, third = create_webhook(admin), create_webhook(admin), create_webhook(admin)
    crash_at_audit()

    step = Step("webhook.create")
    _call(admin.post, base, {"url": "https://hooks.example.com/new", "events": ["*"]})
    step.all_or_nothing(any(pk.startswith("WEBHOOK#")
                            and i.get("url") == "https://hooks.example.com/new"
                            for (pk, _), i in snapshot().items()))

    step = Step("webhook.update", hook["id"])
    _call(admin.put, f"{base}/{hook['id']}", {"description": "changed"})
    step.all_or_nothing(webhook_item(hook["id"]).get("description") == "changed")

    before = webhook_item(hook["id"])["secretEnc"]
    step = Step("webhook.rotate_secret", hook["id"])
    _call(admin.post, f"{base}/{hook['id']}/rotate-secret", {})
    step.all_or_nothing(webhook_item(hook["id"])["secretEnc"] != before)

    sent_before = sum(1 for pk, _ in snapshot() if pk.startswith("OUTBOX#"))
    step = Step("webhook.test", hook["id"])
    _call(admin.post, f"{base}/{hook['id']}/test")
    step.all_or_nothing(sum(1 for pk, _ in snapshot() if pk.startswith("OUTBOX#"))
                        > sent_before)

    step = Step("webhook.disabling", other["id"])
    _call(service.warn_disabling, other["id"], 4102444800.0)
    step.all_or_nothing(bool(webhook_item(other["id"]).get("disablingWarnedAt")))

    step = Step("webhook.disable", other["id"])
    _call(service.disable, other["id"], "too many failures")
    step.all_or_nothing(webhook_item(other["id"]).get("status") == "disabled")

    step = Step("webhook.delete", third["id"])
    _call(admin.delete, f"{base}/{third['id']}")
    step.all_or_nothing(service.get_webhook(third["id"]) is None)
