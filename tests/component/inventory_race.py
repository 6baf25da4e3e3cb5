"""Run in a process of its own (an in-process moto mock is not atomic under threads):
many threads reserving the same sku against the local stack's emulator. Prints JSON."""

from __future__ import annotations

import json
import sys
import time


def run(threads: int = 16, per_thread: int = 6, stock: int = 40, low: int = 10) -> dict:
    from chalicelib.core.errors import Conflict
    from chalicelib.core.principal import Principal
    from chalicelib.resources import inventory, repo, service
    from chalicelib.store import table as store
    from devstack.emulator import provisioned, race

    with provisioned("invrace"):
        who = Principal(kind="client", id="race", owner="race", scopes=frozenset({"admin"}))
        service.create(inventory.INVENTORY, who, inventory.InventoryIn(
            sku="RACE", quantity=stock, low_stock_threshold=low))
        def attempt() -> bool:
            try:
                inventory.reserve(who, "RACE", 1)
            except Conflict:
                return False
            return True

        started = time.perf_counter()
        reserved, refused = race(threads, per_thread, attempt)
        seconds = round(time.perf_counter() - started, 2)  # reported, never asserted
        stored = repo.load(inventory.INVENTORY, "live", "RACE")
        item = stored.record if stored else {}
        events = []
        resp = store.table().scan()
        for raw in resp.get("Items", []):
            if str(raw["PK"]).startswith("OUTBOX#"):
                events.append(json.loads(raw["event"])["event"])
        return {"reserved": reserved, "refused": refused, "stored": item.get("reserved"),
                "available": item.get("available"), "low": events.count("inventory.low"),
                "seconds": seconds}


if __name__ == "__main__":
    print(json.dumps(run(*(int(a) for a in sys.argv[1:]))))
