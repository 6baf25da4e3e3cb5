"""Every request example of the five brief documents (../shared/brief/) that maps onto a
route Gatehouse has, sent as the brief writes it (its field names, shapes and values;
only ids are real ones), answers success.

Mapping: the brief's paths are served under /api/v1 (`/api/keys` -> `/api/v1/api-keys`,
`/api/oauth/token` -> `/api/v1/oauth/token`, `/token/` -> `/api/v1/auth/login`). The
examples of exports, imports, the GDPR export, integrations and doc 004's notification
service are in test_brief_examples_exchange.py. Not built yet, so in neither: monitoring,
cache, backups, versions and migration guides (/api/versions, /api/{v}/status), /api/sdk,
/api/docs/{version}, /api/v1/health and /health/* (only /api/health is), diagnostics, and
doc 004's workflow, task and comment services.

Every example that maps onto a route works as written."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote

import pytest

from tests.component.helpers import FORM, resolve_example_com_publicly
from tests.conftest import ADMIN_SECRET, Api

V = "/api/v1"
HOOK_URL = "https://hooks.example.com/gatehouse"


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch: Any) -> None:
    resolve_example_com_publicly(monkeypatch)


def ok(resp: Any, *statuses: int) -> Any:
    assert resp.status_code in (statuses or (200, 201, 202, 204)), resp.body
    return resp.json


def seed(admin: Api) -> dict[str, Any]:
    """A product, a customer and stock for the examples to refer to."""
    product = ok(admin.post(f"{V}/products", {"sku": "PROD-456", "name": "Widget",
                                               "price": "29.99", "category": "electronics"}))
    customer = ok(admin.post(f"{V}/customers", {"email": "jane@example.com",
                                                 "name": "Jane Doe"}))
    ok(admin.post(f"{V}/inventory", {"sku": "PROD-456", "quantity": 10}))
    return {"product": product["data"]["id"], "customer": customer["data"]["id"]}


def signed_key(admin: Api, scopes: list[str]) -> tuple[str, str]:
    data = ok(admin.post(f"{V}/api-keys", {"name": "brief signed", "scopes": scopes,
                                            "requireSignature": True}))["data"]
    return data["key"], data["secret"]


# ---- 003, the API Integration Module PRD -------------------------------------------

def test_prd_request_example_signed_order(admin: Api) -> None:
    """§6.2 verbatim: an API key, a signature over timestamp and body, the body as written
    (price a JSON number, shippingAddress street/city/state/zip without country)."""
    ids = seed(admin)
    key, secret = signed_key(admin, ["orders:write"])
    body = json.dumps({
        "customerId": ids["customer"],
        "items": [{"productId": ids["product"], "quantity": 2, "price": 29.99}],
        "shippingAddress": {"street": "123 Main St", "city": "New York", "state": "NY",
                            "zip": "10001"},
    }, indent=2)
    ts = str(int(time.time()))
    path = f"{V}/orders"
    sig = hmac.new(secret.encode(), f"{ts}.POST.{path}.{body}".encode(),
                   hashlib.sha256).hexdigest()
    resp = admin.client.http.request("POST", path, body=body, headers={
        "Host": "api.example.com", "Content-Type": "application/json", "X-API-Key": key,
        "X-API-Signature": f"sha256={sig}", "X-Timestamp": ts})
    assert resp.status_code == 201, resp.body
    data = json.loads(resp.body)["data"]
    assert data["customerId"] == ids["customer"] and data["status"] == "pending"
    assert data["total"] == "59.98"
    assert data["shippingAddress"] == {"street": "123 Main St", "city": "New York",
                                       "state": "NY", "zip": "10001"}


def test_prd_orders_api(admin: Api) -> None:
    """FR-005: list, get, create, PUT, PATCH status, DELETE (cancel)."""
    ids = seed(admin)
    address = {"street": "123 Main St", "city": "New York", "state": "NY", "zip": "10001"}
    created = ok(admin.post(f"{V}/orders", {
        "customerId": ids["customer"], "shippingAddress": address,
        "items": [{"productId": ids["product"], "quantity": 2, "price": 29.99}]}))["data"]
    oid = created["id"]
    ok(admin.get(f"{V}/orders"))
    ok(admin.get(f"{V}/orders/{oid}"))
    ok(admin.put(f"{V}/orders/{oid}", {"shippingAddress": {**address, "zip": "10002"}}))
    ok(admin.patch(f"{V}/orders/{oid}/status", {"status": "confirmed"}))
    assert ok(admin.delete(f"{V}/orders/{oid}"))["data"]["status"] == "cancelled"


def test_prd_products_customers_inventory_api(admin: Api) -> None:
    """FR-006, FR-007, FR-008 with the contract's bodies."""
    ids = seed(admin)
    pid, cid = ids["product"], ids["customer"]
    ok(admin.get(f"{V}/products"))
    ok(admin.get(f"{V}/products/{pid}"))
    ok(admin.put(f"{V}/products/{pid}", {"price": 24.99}))
    other = ok(admin.post(f"{V}/products", {"sku": "GONE-1", "name": "x", "price": 1}))
    ok(admin.delete(f"{V}/products/{other['data']['id']}"))
    ok(admin.get(f"{V}/customers"))
    ok(admin.get(f"{V}/customers/{cid}"))
    ok(admin.put(f"{V}/customers/{cid}", {"name": "Jane Smith"}))
    ok(admin.delete(f"{V}/customers/{cid}"))
    ok(admin.get(f"{V}/inventory"))
    ok(admin.get(f"{V}/inventory/PROD-456"))
    ok(admin.put(f"{V}/inventory/PROD-456", {"quantity": 20}))
    ok(admin.patch(f"{V}/inventory/PROD-456/reserve", {"quantity": 2}))
    ok(admin.patch(f"{V}/inventory/PROD-456/release", {"quantity": 2}))


@pytest.mark.parametrize("query", [
    "page=1&perPage=20",                          # FR-012 (page 1 is the first page)
    "status=active&category=electronics",         # FR-013 (products have no status)
    "priceMin=10&priceMax=100",                   # FR-013 ranges
    "createdAfter=2024-01-01&createdBefore=2024-12-31",  # FR-013 date ranges
    "sort=createdAt&order=desc",                  # FR-014
    "fields=id,name,price",                       # FR-015
])
def test_prd_list_queries(admin: Api, query: str) -> None:
    seed(admin)
    ok(admin.get(f"{V}/products?{query}"), 200)


def test_prd_date_range_is_whole_days(admin: Api) -> None:
    """A bare date is a whole UTC day at either end."""
    from datetime import date, timedelta

    from chalicelib.core import clock

    seed(admin)
    today = date.fromisoformat(clock.day())
    day = {n: (today + timedelta(days=n)).isoformat() for n in (-1, 0, 1)}
    inside = ok(admin.get(f"{V}/products?createdAfter={day[0]}&createdBefore={day[0]}"))
    assert [p["sku"] for p in inside["data"]] == ["PROD-456"]
    assert ok(admin.get(f"{V}/products?createdAfter={day[1]}"))["data"] == []
    assert ok(admin.get(f"{V}/products?createdBefore={day[-1]}"))["data"] == []


def test_prd_oauth_token(api: Api) -> None:
    """FR-002: POST /api/oauth/token, client credentials."""
    resp = api.post(f"{V}/oauth/token", raw="grant_type=client_credentials",
                    headers={"Content-Type": FORM,
                             "Authorization": basic_auth("admin", ADMIN_SECRET)})
    token = ok(resp, 200)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert token["refresh_token"]


def test_prd_oauth_refresh(api: Api) -> None:
    """§6.1: POST /oauth/refresh."""
    token = ok(api.post(f"{V}/oauth/token", raw="grant_type=client_credentials",
                        headers={"Content-Type": FORM,
                                 "Authorization": basic_auth("admin", ADMIN_SECRET)}))
    ok(api.post(f"{V}/oauth/refresh", raw="grant_type=refresh_token&refresh_token="
                + quote(token["refresh_token"]),
                headers={"Content-Type": FORM,
                         "Authorization": basic_auth("admin", ADMIN_SECRET)}), 200)


def test_prd_webhooks_api(admin: Api) -> None:
    """FR-009 (and docs 000 and 002): list, register, get, PUT, test, deliveries,
    delivery logs, redeliver, DELETE, the event catalog."""
    from chalicelib.webhooks import worker
    from tests.component.test_resources import outbox_events

    ok(admin.get(f"{V}/webhooks/events"))
    hook = ok(admin.post(f"{V}/webhooks", {"url": HOOK_URL,
                                            "events": ["order.created", "inventory.low"]}))
    wid = hook["data"]["id"]
    ok(admin.get(f"{V}/webhooks"))
    ok(admin.get(f"{V}/webhooks/{wid}"))
    ok(admin.put(f"{V}/webhooks/{wid}", {"events": ["order.created", "order.cancelled"]}))
    ok(admin.post(f"{V}/webhooks/{wid}/test"))
    fanned = [{"messageId": e["id"], "body": json.dumps(e)} for e in outbox_events()]
    assert worker.fan_out_batch({"Records": fanned}) == {"batchItemFailures": []}
    deliveries = ok(admin.get(f"{V}/webhooks/{wid}/deliveries"))["data"]
    ok(admin.get(f"{V}/webhooks/{wid}/delivery-logs"))
    ok(admin.post(f"{V}/webhooks/{wid}/redeliver/{deliveries[0]['id']}"))
    ok(admin.delete(f"{V}/webhooks/{wid}"))


def test_prd_health_and_docs(api: Api) -> None:
    """NFR-002 GET /api/health; docs 001 and 002: /api/docs and the OpenAPI document."""
    for path in ("/api/health", "/api/docs/openapi.json", "/api/docs/openapi.yaml"):
        ok(api.get(path), 200)
    assert api.client.http.get("/api/docs").status_code == 200


# ---- 000 (ATİS) and 002 (TaskFlow): endpoint lists ---------------------------------

def test_auth_endpoints_of_000_and_002(api: Api, admin: Api) -> None:
    """token, refresh-token, token/validate, revoke, userinfo, api-keys list/create/delete,
    api-access-logs."""
    auth = {"Content-Type": FORM, "Authorization": basic_auth("admin", ADMIN_SECRET)}
    token = ok(api.post(f"{V}/oauth/token", raw="grant_type=client_credentials",
                        headers=auth))
    ok(api.post(f"{V}/oauth/refresh-token",
                raw="refresh_token=" + quote(token["refresh_token"]), headers=auth), 200)
    bearer = api.as_bearer(token["access_token"])
    ok(bearer.get(f"{V}/oauth/token/validate"), 200)
    ok(bearer.get(f"{V}/oauth/userinfo"), 200)
    ok(api.post(f"{V}/oauth/revoke", raw="token=" + quote(token["access_token"]),
                headers=auth), 200)
    ok(admin.get(f"{V}/api-keys"))
    key = ok(admin.post(f"{V}/api-keys", {"name": "partner", "scopes": ["orders:read"]}))
    ok(admin.delete(f"{V}/api-keys/{key['data']['id']}"))
    ok(admin.get(f"{V}/api-access-logs"))


def test_taskflow_token_request_as_json(api: Api) -> None:
    """002's /auth/token: a JSON body with grant_type, client_id, client_secret."""
    resp = api.post(f"{V}/oauth/token", {"grant_type": "client_credentials",
                                         "client_id": "admin", "client_secret": ADMIN_SECRET})
    assert ok(resp, 200)["token_type"] == "Bearer"


def test_taskflow_tickets_listing(admin: Api) -> None:
    """002's GET /tickets?status=&page=&limit= (page and limit are not ours: perPage and
    cursor are; they are ignored)."""
    ok(admin.post(f"{V}/tickets", {"subject": "Fix production issue", "priority": "high"}))
    data = ok(admin.get(f"{V}/tickets?status=open&page=1&limit=20"), 200)["data"]
    assert [t["subject"] for t in data] == ["Fix production issue"]


# ---- 001 (SDP Ayurveda) ------------------------------------------------------------

def test_ayurveda_keys_and_webhooks_lists(admin: Api) -> None:
    """GET /api/keys, DELETE /api/keys/[id], GET /api/webhooks, GET
    /api/webhooks/[id]/deliveries."""
    ok(admin.get(f"{V}/api-keys"))
    key = ok(admin.post(f"{V}/api-keys", {"name": "k", "scopes": ["orders:read"]}))
    ok(admin.delete(f"{V}/api-keys/{key['data']['id']}"))
    ok(admin.get(f"{V}/webhooks"))
    hook = ok(admin.post(f"{V}/webhooks", {"url": HOOK_URL, "events": ["order.created"]}))
    ok(admin.get(f"{V}/webhooks/{hook['data']['id']}/deliveries"))


def test_ayurveda_create_key(admin: Api) -> None:
    """POST /api/keys { name, permissions, rateLimit?, expiresAt? }."""
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
    ok(admin.post(f"{V}/api-keys", {"name": "ayurveda", "permissions": ["orders:read"],
                                     "rateLimit": 1000, "expiresAt": expires}), 201)


def test_ayurveda_create_webhook(admin: Api) -> None:
    """POST /api/webhooks { name, url, events, retryCount?, timeout? }."""
    made = ok(admin.post(f"{V}/webhooks", {"name": "orders feed", "url": HOOK_URL,
                                            "events": ["order.created"], "retryCount": 3,
                                            "timeout": 30}), 201)["data"]
    assert made["timeoutSeconds"] == 30 and made["description"] == "orders feed"


def test_expires_at_too_soon_says_the_minimum(admin: Api) -> None:
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30))
    resp = admin.post(f"{V}/api-keys", {"name": "soon", "scopes": ["orders:read"],
                                         "expiresAt": soon})
    assert resp.status_code == 422, resp.body
    messages = [d["message"] for d in resp.json["error"]["details"]]
    assert any("at least 60 seconds in the future" in m for m in messages), messages


# ---- 004 (Ticket Tracking System, auth service) ------------------------------------

def brief_user(admin: Api) -> Api:
    """The brief's own login (POST /token/ {username, password}) with its values."""
    ok(admin.post(f"{V}/users", {"username": "user@example.com", "email": "user@example.com",
                                  "password": "securePassword123", "roles": ["admin"]}), 201)
    login = admin.post(f"{V}/auth/login", {"username": "user@example.com",
                                            "password": "securePassword123"},
                       headers={"Authorization": ""})
    return admin.as_bearer(ok(login, 200)["access_token"])


def test_tts_login_and_user_reads(admin: Api) -> None:
    """POST /token/, GET /api/v1/users (page, page_size, search), GET /users/{id},
    DELETE /users/{id}, GET /roles."""
    user = brief_user(admin)
    listed = ok(user.get(f"{V}/users?page=1&page_size=10&search=user"), 200)["data"]
    uid = next(u["id"] for u in listed if u["username"] == "user@example.com")
    ok(user.get(f"{V}/users/{uid}"), 200)
    ok(user.get(f"{V}/roles"), 200)
    other = ok(admin.post(f"{V}/users", {"username": "jane.smith", "email": "jane@example.com",
                                          "password": "SecurePass123!"}))
    ok(admin.delete(f"{V}/users/{other['data']['id']}"))


def test_tts_trailing_slash_paths(admin: Api) -> None:
    """The brief's paths as written: /api/v1/users/, /users/{id}/, /roles/."""
    user = brief_user(admin)
    listed = ok(user.get(f"{V}/users/?page=1&page_size=10&search=user"), 200)["data"]
    ok(user.get(f"{V}/users/{listed[0]['id']}/"), 200)
    ok(user.get(f"{V}/roles/"), 200)


def test_tts_create_and_update_user(admin: Api) -> None:
    """POST /api/v1/users/ and PUT /api/v1/users/{id}/ with the brief's bodies."""
    created = ok(admin.post(f"{V}/users", {
        "username": "jane.smith", "email": "jane@example.com", "first_name": "Jane",
        "last_name": "Smith", "password": "SecurePass123!", "is_active": True}), 201)
    ok(admin.put(f"{V}/users/{created['data']['id']}", {
        "first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.com"}), 200)
    patched = ok(admin.patch(f"{V}/users/{created['data']['id']}", {"last_name": "Roe"}), 200)
    assert patched["data"]["lastName"] == "Roe" and patched["data"]["firstName"] == "Jane"


def test_tts_token_refresh(admin: Api) -> None:
    """POST /token/refresh/ {"refresh": ...}."""
    login = admin.post(f"{V}/auth/login", {"username": "admin",
                                            "password": "admin-password-for-tests"},
                       headers={"Authorization": ""})
    ok(admin.post(f"{V}/auth/refresh", {"refresh": ok(login, 200)["refresh_token"]},
                  headers={"Authorization": ""}), 200)


def test_tts_logout_with_bearer_only(admin: Api) -> None:
    """POST /logout/ with `Authorization: Bearer <access_token>`: the session ends."""
    user = brief_user(admin)
    ok(user.post(f"{V}/auth/logout"), 200)
    assert user.get(f"{V}/oauth/userinfo").status_code == 401


def test_tts_assign_role(admin: Api) -> None:
    """POST /api/v1/user-roles/ {"user_id": 1, "role_id": 5, "system": "TTS"}."""
    created = ok(admin.post(f"{V}/users", {"username": "agent1", "email": "a1@example.com",
                                            "password": "SecurePass123!"}))
    ok(admin.post(f"{V}/user-roles", {"user_id": created["data"]["id"], "role_id": "viewer",
                                       "system": "TTS"}), 200, 201)


def basic_auth(client_id: str, secret: str) -> str:
    from tests.conftest import basic

    return basic(client_id, secret)
