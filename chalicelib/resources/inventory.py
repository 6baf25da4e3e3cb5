"""Inventory: the sku is the id. `available = quantity - reserved`, both never below
zero. Reserve and release write the stock as read, on condition that its version has
not changed (never oversold), with their audit entry in the same transaction;
inventory.low is raised exactly when a change takes `available` from above
`lowStockThreshold` to at or below it (also when a stock record is created already low)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from chalicelib.auth.principal import Principal
from chalicelib.core.errors import Conflict
from chalicelib.http.models import Body, ChangeBody
from chalicelib.resources import service
from chalicelib.resources.declaration import Out, Resource, register_events

SKU = r"^[A-Za-z0-9._\-]+$"
ATTEMPTS = 60


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
    sku: str
    quantity: int
    reserved: int
    available: int
    low_stock_threshold: int | None = None
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
    available."""
    def change(cur: dict[str, Any]) -> tuple[dict[str, Any], service.Events]:
        avail = int(cur["available"])
        if avail < quantity:
            raise Conflict(f"Only {avail} available.", details=[
                {"field": "quantity", "message": f"at most {avail}"}])
        after = {**cur, "available": avail - quantity,
                 "reserved": int(cur["reserved"]) + quantity}
        return after, _low(cur, after)

    return _stock_change(principal, sku, change, "inventory.reserve", quantity)


def release(principal: Principal, sku: str, quantity: int) -> dict[str, Any]:
    """Gives reserved units back to available, or 409 if fewer are reserved."""
    def change(cur: dict[str, Any]) -> tuple[dict[str, Any], service.Events]:
        if int(cur["reserved"]) < quantity:
            raise Conflict(f"Only {cur['reserved']} reserved.", details=[
                {"field": "quantity", "message": f"at most {cur['reserved']}"}])
        return {**cur, "available": int(cur["available"]) + quantity,
                "reserved": int(cur["reserved"]) - quantity}, []

    return _stock_change(principal, sku, change, "inventory.release", quantity)


def _stock_change(principal: Principal, sku: str,
                  change: Callable[[dict[str, Any]], tuple[dict[str, Any], service.Events]],
                  action: str, quantity: int) -> dict[str, Any]:
    """The read, then one transaction: the stock written on condition that its version
    is still the one read (so the answer and any inventory.low event are exactly what
    was written) and the audit entry. Two DynamoDB calls; a lost race reads again."""
    return service.mutate(INVENTORY, principal, sku, change, action,
                          audit_changes={"quantity": quantity}, attempts=ATTEMPTS)
