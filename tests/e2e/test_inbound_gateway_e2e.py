"""A gateway callback over a real socket through the local HTTP front: the signature is
over the exact bytes sent (pretty-printed, non-ASCII), which the front must hand to the
app unchanged."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.component.gateway_sim import GatewaySim

pytestmark = pytest.mark.e2e
SECRET = "whsec_e2e_0123456789abcdef"


@pytest.fixture
def api(admin_http: httpx.Client) -> httpx.Client:
    return admin_http


def _made(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 201, resp.text
    return dict(resp.json()["data"])


def test_a_signed_callback_over_http_records_one_payment(api: httpx.Client,
                                                         local_stack: Any) -> None:
    p = _made(api.post("/api/v2/products", json={"sku": "GW-E2E", "name": "Mug",
                                                 "price": "30.00"}))
    c = _made(api.post("/api/v2/customers", json={"email": "gw-e2e@example.com",
                                                  "name": "Zoë"}))
    o = _made(api.post("/api/v2/orders", json={
        "customerId": c["id"], "items": [{"productId": p["id"], "quantity": 1,
                                          "price": "30.00"}],
        "shippingAddress": {"street": "1 Main St", "city": "Springfield", "zip": "1"}}))
    conn = _made(api.post("/api/v2/integrations", json={
        "type": "payment_gateway", "name": "Stripe", "config": {},
        "credentials": {"signingSecret": SECRET}}))["id"]
    sim = GatewaySim(SECRET)
    event = sim.payment_event(o["id"], 3000)
    event["data"]["object"]["description"] = "Zoë's mug — 30 €"
    body = sim.payload(event)
    url = f"{local_stack.base_url}/api/v1/integrations/{conn}/inbound"
    with httpx.Client(timeout=10.0) as gateway:  # no Gatehouse credentials
        first = gateway.post(url, content=body, headers=sim.headers(body))
        assert first.status_code == 200, first.text
        assert first.json()["outcome"] == "recorded"
        again = gateway.post(url, content=body, headers=sim.headers(body))
        assert again.status_code == 200 and again.json()["duplicate"] is True
        tampered = body.replace("30 €".encode(), "31 €".encode())
        assert gateway.post(url, content=tampered,
                            headers=sim.headers(body)).status_code == 400
    paid = api.get(f"/api/v2/orders/{o['id']}/payments").json()["data"]
    assert [x["amount"] for x in paid] == ["30.00"]
    assert api.get(f"/api/v2/orders/{o['id']}").json()["data"]["paymentStatus"] == "paid"
