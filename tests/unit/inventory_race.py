"""Run in a process of its own (an in-process moto mock is not atomic under threads):
many threads reserving the same sku against the local stack's emulator. Prints JSON."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(threads: int = 16, per_thread: int = 6, stock: int = 40, low: int = 10) -> dict:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from chalicelib.local.emulator import moto_server

    port = _free_port()
    server = moto_server(port)
    server.start()
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    os.environ["GATEHOUSE_STAGE"] = "invrace"
    from chalicelib.auth.principal import Principal
    from chalicelib.core import aws
    from chalicelib.core.errors import Conflict
    from chalicelib.core.settings import reset_settings
    from chalicelib.local.provision import provision
    from chalicelib.resources import inventory, service
    from chalicelib.store import table as store

    reset_settings()
    aws.reset()
    try:
        provision("invrace")
        who = Principal(kind="client", id="race", owner="race", scopes=frozenset({"admin"}))
        service.create(inventory.INVENTORY, who, inventory.InventoryIn(
            sku="RACE", quantity=stock, low_stock_threshold=low))
        ok = [0] * threads
        refused = [0] * threads
        barrier = threading.Barrier(threads)

        def worker(i: int) -> None:
            barrier.wait()
            for _ in range(per_thread):
                try:
                    inventory.reserve(who, "RACE", 1)
                    ok[i] += 1
                except Conflict:
                    refused[i] += 1

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        item = store.get(inventory.INVENTORY.pk("live", "RACE"), "INVENTORY", True) or {}
        events = []
        resp = store.table().scan()
        for raw in resp.get("Items", []):
            if str(raw["PK"]).startswith("OUTBOX#"):
                events.append(json.loads(raw["event"])["event"])
        return {"reserved": sum(ok), "refused": sum(refused), "stored": item.get("reserved"),
                "available": item.get("available"), "low": events.count("inventory.low")}
    finally:
        server.stop()


if __name__ == "__main__":
    print(json.dumps(run(*(int(a) for a in sys.argv[1:]))))
