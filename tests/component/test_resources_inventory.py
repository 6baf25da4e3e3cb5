"""Inventory: reserve/release bounds, PUT, inventory.low exactly on a downward crossing,
and no overselling under concurrency (in a process of its own, on the atomic emulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.component.helpers import assert_error, snapshot
from tests.component.test_resources import outbox_events

V = "/api/v1"
ROOT = Path(__file__).resolve().parents[2]


def stock(admin, sku="MUG-1", quantity=20, threshold=5):
    body = {"sku": sku, "quantity": quantity}
    if threshold is not None:
        body["lowStockThreshold"] = threshold
    resp = admin.post(f"{V}/inventory", body)
    assert resp.status_code == 201, resp.body
    return resp.json["data"]


def test_create_get_put_and_bounds(admin):
    s = stock(admin)
    assert s == {**s, "id": "MUG-1", "sku": "MUG-1", "quantity": 20, "reserved": 0,
                 "available": 20, "lowStockThreshold": 5}
    assert_error(admin.post(f"{V}/inventory", {"sku": "MUG-1", "quantity": 1}), 409, "CONFLICT")
    r = admin.patch(f"{V}/inventory/MUG-1/reserve", {"quantity": 12})
    assert r.status_code == 200 and r.json["data"]["available"] == 8
    before = snapshot()
    assert_error(admin.patch(f"{V}/inventory/MUG-1/reserve", {"quantity": 9}), 409, "CONFLICT")
    assert_error(admin.patch(f"{V}/inventory/MUG-1/release", {"quantity": 13}), 409,
                 "CONFLICT")
    assert_error(admin.put(f"{V}/inventory/MUG-1", {"quantity": 11}), 409, "CONFLICT")
    for bad in ({"quantity": 0}, {"quantity": -1}, {"quantity": "1"}, {}, {"qty": 1}):
        assert_error(admin.patch(f"{V}/inventory/MUG-1/reserve", bad), 422,
                     "VALIDATION_ERROR")
    assert_error(admin.post(f"{V}/inventory", {"sku": "X", "quantity": -1}), 422,
                 "VALIDATION_ERROR")
    assert {k: v for k, v in snapshot().items() if not k[0].startswith("AUDIT#")} == \
        {k: v for k, v in before.items() if not k[0].startswith("AUDIT#")}
    assert admin.patch(f"{V}/inventory/MUG-1/reserve", {"quantity": 8}).json["data"][
        "available"] == 0
    rel = admin.patch(f"{V}/inventory/MUG-1/release", {"quantity": 20}).json["data"]
    assert rel["reserved"] == 0 and rel["available"] == 20
    upd = admin.put(f"{V}/inventory/MUG-1", {"quantity": 50}).json["data"]
    assert upd["quantity"] == 50 and upd["available"] == 50
    assert_error(admin.patch(f"{V}/inventory/NOPE/reserve", {"quantity": 1}), 404,
                 "NOT_FOUND")
    assert_error(admin.get(f"{V}/inventory/NOPE"), 404, "NOT_FOUND")
    assert admin.get(f"{V}/inventory?availableMin=40").json["data"][0]["sku"] == "MUG-1"
    assert admin.get(f"{V}/inventory?availableMax=10").json["data"] == []


def test_low_raised_exactly_on_downward_crossing(admin):
    stock(admin, quantity=10, threshold=5)
    path = f"{V}/inventory/MUG-1"

    def lows():
        return len(outbox_events("inventory.low"))

    admin.patch(f"{path}/reserve", {"quantity": 4})  # 6 available: above
    assert lows() == 0
    admin.patch(f"{path}/reserve", {"quantity": 1})  # 5: crosses
    assert lows() == 1
    event = outbox_events("inventory.low")[0]
    assert event["data"]["available"] == 5 and event["data"]["reserved"] == 5
    admin.patch(f"{path}/reserve", {"quantity": 2})  # 3: still low, no new event
    admin.put(path, {"quantity": 9})  # 4: still low
    assert lows() == 1
    admin.patch(f"{path}/release", {"quantity": 7})  # 9 available: back above
    assert lows() == 1
    admin.put(path, {"quantity": 3})  # 3: crosses again by PUT
    assert lows() == 2
    admin.put(path, {"lowStockThreshold": 1})  # no longer low
    admin.put(path, {"lowStockThreshold": 4})  # crosses by raising the threshold
    assert lows() == 3
    stock(admin, "NEW", quantity=2, threshold=5)  # created already low
    assert lows() == 4
    stock(admin, "NO-T", quantity=0, threshold=None)  # no threshold, never low
    admin.patch(f"{V}/inventory/MUG-1/reserve", {"quantity": 1})
    assert lows() == 4
    assert len(outbox_events("inventory.updated")) == 7  # 3 creates + 4 PUTs


def test_sandbox_inventory_is_separate(admin):
    stock(admin, quantity=5)
    resp = admin.post(f"{V}/api-keys", {"name": "sb", "scopes": ["inventory:read",
                                                                 "inventory:write"],
                                        "sandbox": True})
    sandbox = admin.as_key(resp.json["data"]["key"])
    assert_error(sandbox.get(f"{V}/inventory/MUG-1"), 404, "NOT_FOUND")
    assert_error(sandbox.patch(f"{V}/inventory/MUG-1/reserve", {"quantity": 1}), 404,
                 "NOT_FOUND")
    stock(sandbox, quantity=100)
    sandbox.patch(f"{V}/inventory/MUG-1/reserve", {"quantity": 50})
    assert admin.get(f"{V}/inventory/MUG-1").json["data"]["available"] == 5


def test_never_oversold_under_concurrency():
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run([sys.executable, "-m", "tests.component.inventory_race", "16", "6", "40",
                          "10"], capture_output=True, text=True, timeout=300, env=env,
                         cwd=ROOT, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["reserved"] == 40 and result["refused"] == 56, result  # 96 attempts
    assert result["stored"] == 40 and result["available"] == 0, result
    assert result["low"] == 1, result


def test_concurrent_reservations_with_stock_to_spare_are_never_refused():
    """64 concurrent reservers of one sku with plenty of stock: every one lands (a
    condition on the version read refused some with "changed concurrently")."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    out = subprocess.run([sys.executable, "-m", "tests.component.inventory_race", "64", "3",
                          "10000", "10"], capture_output=True, text=True, timeout=300,
                         env=env, cwd=ROOT, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["reserved"] == 192 and result["refused"] == 0, result
    assert result["stored"] == 192 and result["available"] == 9808, result
