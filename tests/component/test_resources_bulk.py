"""Creates prepared one by one and committed together (an import's chunk): all of them
with their events and audit entries, or none."""

from __future__ import annotations

from typing import Any

import pytest

from tests.component.test_resources import V, outbox_events, product


def _admin_principal() -> Any:
    from chalicelib.core.principal import Principal

    return Principal(kind="client", id="bulk", owner="bulk", scopes=frozenset({"admin"}))


def _prepared(skus: list[str]) -> list[Any]:
    from chalicelib.resources import products, service

    actor = _admin_principal()
    return [service.prepare_create(products.PRODUCTS, actor, products.PRODUCTS.create(
        sku=sku, name=f"Bulk {sku}", price="3.00")) for sku in skus]


def test_create_many_commits_every_record_and_its_event(admin) -> None:
    from chalicelib.resources import products, service

    prepared = _prepared(["B-1", "B-2", "B-3"])
    assert all(p.items >= 3 for p in prepared)   # record, sku claim, audit, event...
    service.create_many(products.PRODUCTS, _admin_principal(), prepared)
    listed = admin.get(f"{V}/products?limit=10").json["data"]
    assert sorted(p["sku"] for p in listed) == ["B-1", "B-2", "B-3"]
    created = outbox_events("product.created")
    assert sorted(e["data"]["sku"] for e in created) == ["B-1", "B-2", "B-3"]


def test_create_many_writes_none_when_one_conflicts(admin) -> None:
    from chalicelib.core.errors import Conflict
    from chalicelib.resources import products, service

    product(admin, sku="B-2")
    before = len(outbox_events("product.created"))
    with pytest.raises(Conflict):
        service.create_many(products.PRODUCTS, _admin_principal(),
                            _prepared(["B-1", "B-2", "B-3"]))
    assert [p["sku"] for p in admin.get(f"{V}/products").json["data"]] == ["B-2"]
    assert len(outbox_events("product.created")) == before


def test_create_batched_never_puts_one_item_twice_in_a_transaction(admin, monkeypatch) -> None:
    """Creates that touch a common item (orders checking one customer) are committed in
    separate transactions; the others share one, up to the item limit."""
    from chalicelib.resources import products, service

    prepared = _prepared([f"G-{i}" for i in range(6)])
    shared = {"ConditionCheck": {"Key": {"PK": "CUSTOMER#c1", "SK": "CUSTOMER"},
                                 "ConditionExpression": "attribute_exists(PK)"}}
    prepared[1] = service.Prepared([*prepared[1].ops, shared], prepared[1].events,
                                   prepared[1].presented)
    prepared[2] = service.Prepared([*prepared[2].ops, shared], prepared[2].events,
                                   prepared[2].presented)
    sizes: list[int] = []
    real = service.create_many
    monkeypatch.setattr(service, "create_many", lambda res, actor, group: (
        sizes.append(len(group)), real(res, actor, group))[1])
    store_customer = {"PK": "CUSTOMER#c1", "SK": "CUSTOMER"}
    from chalicelib.store import table as store

    store.put(store_customer)
    assert service.create_batched(products.PRODUCTS, _admin_principal(), prepared) == []
    assert sizes == [2, 4]   # G-0, G-1 | G-2 (checks c1 again) ... G-5
    monkeypatch.setattr(service, "TRANSACTION_ITEMS", prepared[0].items * 2)
    sizes.clear()
    more = _prepared([f"H-{i}" for i in range(5)])
    assert service.create_batched(products.PRODUCTS, _admin_principal(), more) == []
    assert sizes == [2, 2, 1]
    listed = admin.get(f"{V}/products?perPage=100").json["data"]
    assert len(listed) == 11
