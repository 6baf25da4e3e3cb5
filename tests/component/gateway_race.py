"""Run in a process of its own (an in-process moto mock is not atomic under threads):
threads delivering signed gateway callbacks at once against the local stack's emulator,
through the inbound service. Prints JSON.

    python -m tests.component.gateway_race THREADS

Round one: every thread delivers the SAME event (one payment must result). Round two:
every thread delivers its own event for the same order (each lands once, or answers
409/5xx for the gateway to retry, never twice)."""

from __future__ import annotations

import json
import sys
import threading
from decimal import Decimal
from typing import Any

SECRET = "whsec_race_0123456789"


def run(threads: int) -> dict[str, Any]:
    from chalicelib.auth.bootstrap import bootstrap
    from chalicelib.auth.oauth import repo as oauth_repo
    from chalicelib.core import ids
    from chalicelib.core.errors import AppError
    from chalicelib.core.principal import Principal
    from chalicelib.integrations import inbound, repo
    from chalicelib.integrations.connector import Connection
    from chalicelib.resources import customers, orders, products, service
    from chalicelib.resources import repo as resources_repo
    from chalicelib.store import table as store
    from devstack.emulator import provisioned
    from tests.component.gateway_sim import GatewaySim

    with provisioned("gwrace"):
        bootstrap({"GATEHOUSE_ADMIN_CLIENT_SECRET": "race-admin-secret-long",
                   "GATEHOUSE_ADMIN_PASSWORD": "race-admin-password-long"})
        owner = str((oauth_repo.client_item("admin") or {})["owner"])
        who = Principal(kind="client", id="admin", owner=owner, scopes=frozenset({"admin"}))
        product = service.create(products.PRODUCTS, who, products.PRODUCTS.create(
            sku="RACE", name="Race", price=Decimal("1000.00")))
        customer = service.create(customers.CUSTOMERS, who, customers.CUSTOMERS.create(
            email="race@example.com", name="Race"))
        order = service.create(orders.ORDERS, who, orders.OrderIn.model_validate({
            "customerId": customer["id"], "items": [
                {"productId": product["id"], "quantity": 1, "price": "1000.00"}],
            "shippingAddress": {"street": "1 Main", "city": "X", "zip": "1"}}))
        conn = ids.new_id("int")
        repo.create(Connection(id=conn, type="payment_gateway", name="race", owner=owner,
                               sandbox=False, config={},
                               credentials={"signingSecret": SECRET}, scopes=("admin",)))
        sim = GatewaySim(SECRET)

        def deliver_all(events: list[dict[str, Any]]) -> list[str]:
            answers = [""] * len(events)
            barrier = threading.Barrier(len(events))

            def worker(i: int) -> None:
                body = sim.payload(events[i])
                headers = {k.lower(): v for k, v in sim.headers(body).items()}
                barrier.wait()
                try:
                    out = inbound.receive(conn, headers, body, "203.0.113.7")
                    answers[i] = "duplicate" if out["duplicate"] else out["outcome"]
                except AppError as exc:  # the gateway would retry these
                    answers[i] = f"http{exc.status}"

            pool = [threading.Thread(target=worker, args=(i,)) for i in range(len(events))]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            return answers

        same = sim.payment_event(order["id"], 100)
        first = deliver_all([same] * threads)
        second = deliver_all([sim.payment_event(order["id"], 100) for _ in range(threads)])
        paid = resources_repo.payments(orders.ORDERS, "live", order["id"], limit=1000)
        stored = resources_repo.load(orders.ORDERS, "live", order["id"])
        received = 0
        for raw in store.table().scan().get("Items", []):
            if str(raw["PK"]).startswith("OUTBOX#") and \
                    json.loads(raw["event"])["event"] == "payment.received":
                received += 1
        return {
            "same": {a: first.count(a) for a in set(first)},
            "distinct": {a: second.count(a) for a in set(second)},
            "payments": len(paid), "received": received,
            "amountPaid": (stored.record if stored else {}).get("amountPaid"),
        }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 8)))
