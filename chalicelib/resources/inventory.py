"""Inventory: the sku is the id. `available = quantity - reserved`, both never below
zero. Reserve and release are conditional updates on `available` / `reserved` (no
read-modify-write race, never oversold), with their audit entry in the same transaction;
inventory.low is raised exactly when a change takes `available` from above
`lowStockThreshold` to at or below it (also when a stock record is created already low)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.core import clock
from chalicelib.core.errors import Conflict
from chalicelib.core.principal import Principal
from chalicelib.events import audit
from chalicelib.http.models import Body, ChangeBody
from chalicelib.resources import repo, service
from chalicelib.resources.declaration import Out, Resource, register_events
from chalicelib.store import optimistic

SKU = r"^[A-Za-z0-9._\-]+$"
# Concurrent reservations of one sku still collide as transactions on the same item
# (TransactionConflict) with stock to spare: a hot sku needs more than the default attempts.
ATTEMPTS = 60
CHANGED = "The stock changed concurrently; try again."


class InventoryIn(Body):
    sku: str = Field(min_length=1, max_length=64, pattern=SKU)
    quantity: int = Field(ge=0, le=10**9)
    low_stock_threshold: int | None = Field(None, ge=0, le=10**9)


class InventoryUpdate(ChangeBody):
    quantity: int | None = Field(None, ge=0, le=10**9)
    low_stock_threshold: int | None = Field(None, ge=0, le=10**9)


class Quantity(Body):
    quantity: int = Field(ge=1, le=10**9)


class Stock(Out):
    id: str = Field(description="The sku.")
    sku: str = Field(description="The product's sku this stock counts.")
    quantity: int = Field(description="Units on hand.")
    reserved: int = Field(description="Units reserved for orders.")
    available: int = Field(description="quantity - reserved.")
    low_stock_threshold: int | None = Field(
        None, description="At or below this many available, inventory.low is raised.")
    created_at: str
    updated_at: str


def is_low(state: dict[str, Any] | None) -> bool:
    if not state or state.get("lowStockThreshold") is None:
        return False
    return int(state["available"]) <= int(state["lowStockThreshold"])


def _build(ns: str, record: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    reserved = int((previous or {}).get("reserved", 0))
    record["reserved"] = reserved
    record["available"] = int(record["quantity"]) - reserved
    if record["available"] < 0:
        raise Conflict(f"{reserved} units are reserved: quantity cannot go below that.",
                       details=[{"field": "quantity", "message": f"at least {reserved}"}])
    return record


def _low(previous: dict[str, Any] | None,
         new: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if is_low(new) and not is_low(previous):
        return [("inventory.low", INVENTORY.present(new))]
    return []


INVENTORY = Resource(
    name="inventory", kind="INVENTORY", singular="inventory", id_prefix="inv",
    model=Stock, create=InventoryIn, update=InventoryUpdate, id_field="sku", id_param="sku",
    example={"id": "MUG-01", "sku": "MUG-01", "quantity": 100, "reserved": 5,
             "available": 95, "lowStockThreshold": 10,
             "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"},
    ranges=("quantity", "available", "reserved"), sort2="quantity", build=_build,
    more_events=_low,
    events={"created": "inventory.updated", "updated": "inventory.updated"})

register_events(INVENTORY, {"created": "Stock was set (created or changed with PUT)."}, {
    "inventory.low": ("Available stock fell to or below the low-stock threshold.", Stock,
                      {**INVENTORY.example, "available": 10, "reserved": 90})})


def reserve(principal: Principal, sku: str, quantity: int) -> dict[str, Any]:
    """Takes `quantity` from available into reserved, or 409 if not that many are
    available. The condition is on `available` itself, so concurrent reservations never
    oversell and rarely retry (a condition on the version read would make every
    concurrent writer but one read and try again); only a reservation that crosses the
    threshold pins the exact version (its inventory.low event carries the exact state)."""
    ns = service.namespace(principal)

    def attempt() -> dict[str, Any]:
        read = service.load(INVENTORY, ns, sku)
        cur = read.record
        avail, threshold = int(cur["available"]), cur.get("lowStockThreshold")
        if avail < quantity:
            raise Conflict(f"Only {avail} available.", details=[
                {"field": "quantity", "message": f"at most {avail}"}])
        values: dict[str, Any] = {":q": quantity, ":one": 1, ":now": clock.iso()}
        events: list[dict[str, Any]] = []
        after = None
        if threshold is None:
            cond = "#a >= :q AND attribute_not_exists(#t)"
        elif avail <= threshold:  # already low: stays low
            cond, values[":t"] = "#a >= :q AND #a <= :t AND #t = :t", threshold
        elif avail - quantity > threshold:  # stays above
            cond = "#a >= :tq AND #t = :t"
            values.update({":t": threshold, ":tq": threshold + quantity + 1})
        else:  # crosses: pin the state the event describes
            cond, values[":v"] = "#v = :v", read.version
            after = {**cur, "available": avail - quantity,
                     "reserved": int(cur["reserved"]) + quantity, "updatedAt": values[":now"]}
            events = [service.new_event(ns, "inventory.low", INVENTORY.present(after))]
        return _apply(principal, ns, sku, "inventory.reserve", quantity,
                      "SET #a = #a - :q, #r = #r + :q, #v = #v + :one, #u = :now",
                      cond, values, events, after)

    return INVENTORY.present(optimistic.retry(attempt, attempts=ATTEMPTS, conflict=CHANGED))


def release(principal: Principal, sku: str, quantity: int) -> dict[str, Any]:
    """Gives reserved units back to available, or 409 if fewer are reserved (a condition
    on `reserved` itself, as reserve's on `available`)."""
    ns = service.namespace(principal)

    def attempt() -> dict[str, Any]:
        cur = service.load(INVENTORY, ns, sku).record
        if int(cur["reserved"]) < quantity:
            raise Conflict(f"Only {cur['reserved']} reserved.", details=[
                {"field": "quantity", "message": f"at most {cur['reserved']}"}])
        return _apply(principal, ns, sku, "inventory.release", quantity,
                      "SET #a = #a + :q, #r = #r - :q, #v = #v + :one, #u = :now",
                      "#r >= :q", {":q": quantity, ":one": 1, ":now": clock.iso()}, [], None)

    return INVENTORY.present(optimistic.retry(attempt, attempts=ATTEMPTS, conflict=CHANGED))


def _apply(principal: Principal, ns: str, sku: str, action: str, quantity: int, expr: str,
           cond: str, values: dict[str, Any], events: list[dict[str, Any]],
           after: dict[str, Any] | None) -> dict[str, Any]:
    """The conditional write, its audit entry and its events in one transaction; LostRace
    if its condition failed or a concurrent transaction held the item. The answer: `after`
    when the version was pinned (exactly what was written), else the stock read again
    (consistent, so it includes this change)."""
    names = {"#a": "available", "#r": "reserved", "#v": "version", "#u": "updatedAt",
             "#t": "lowStockThreshold"}
    used = expr + " " + cond
    update = repo.counter_op(INVENTORY, ns, sku, expr, cond,
                             {k: v for k, v in names.items() if k in used}, values)
    noted = audit.entry(principal, action, "inventory", sku, {"quantity": quantity})
    repo.commit(INVENTORY, [update, audit.put_op(noted)], events, raced=True)
    return after if after is not None else service.load(INVENTORY, ns, sku).record
