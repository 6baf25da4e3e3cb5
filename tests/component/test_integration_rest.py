"""The REST connector against a real local HTTP server: page-number pagination, the auth
kinds (basic, API key, OAuth client credentials), presets, a rejected credential, the
SSRF guard, redirects, push, and the connection test; secrets kept out of answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.helpers import assert_error, set_env
from tests.component.integration_sync_helpers import (
    TOKEN,
    N,
    V,
    allow_loopback,
    config,
    connect,
    products,
    sync,
)
from tests.conftest import Api
from tests.erp_server import Erp


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    allow_loopback(monkeypatch)


# -- page numbers, auth kinds, presets ---------------------------------------------

@pytest.mark.parametrize("auth", ["basic", "apiKey"])
def test_page_number_pagination_with_basic_or_api_key_auth(admin: Api, auth: str) -> None:
    import base64

    with Erp(N - 1) as erp:
        if auth == "basic":
            creds = {"auth": "basic", "username": "sync", "password": "pa:ss w0rd"}
            erp.expect_auth = ("Authorization",
                               "Basic " + base64.b64encode(b"sync:pa:ss w0rd").decode())
        else:
            creds = {"auth": "apiKey", "header": "X-Erp-Key", "key": "k-123456"}
            erp.expect_auth = ("X-Erp-Key", "k-123456")
        resp = admin.post(f"{V}/integrations", {
            "type": "rest", "name": "Pages", "credentials": creds,
            "config": {**config(erp), "pull": {"path": "/pages", "pagination": "page",
                                               "pageSize": 5, "itemsField": "results"}}})
        assert resp.status_code == 201, resp.body
        done = sync(admin, resp.json["data"]["id"])
        assert done["counts"]["created"] == N - 1 and done["pages"] == 3
        assert [p for _, p in erp.requests] == [
            f"/api/pages?page={n}&pageSize=5" for n in (1, 2, 3)]


def test_cursor_pages_ask_for_the_page_size_they_accept(admin: Api, erp: Erp) -> None:
    """Left to its own page size (5 here) the remote would answer more than pageSize 3
    and fail the run: the size is asked for, unless the fixed query already sets it."""
    pull = {**config(erp)["pull"], "query": {}, "pageSizeParam": "limit", "pageSize": 3}
    made = admin.post(f"{V}/integrations", {"type": "rest", "name": "Cursor", "config": {
        **config(erp), "pull": pull}, "credentials": {"auth": "bearer", "token": TOKEN}})
    assert made.status_code == 201, made.body
    done = sync(admin, made.json["data"]["id"])
    assert done["status"] == "completed" and done["counts"]["created"] == N, done
    paths = [p for _, p in erp.requests]
    assert paths[0] == "/api/items?limit=3" and paths[1] == "/api/items?cursor=3&limit=3"
    erp.requests.clear()
    pull = {**pull, "query": {"limit": "2"}}  # the fixed query wins: no second limit
    made = admin.post(f"{V}/integrations", {"type": "rest", "name": "Fixed", "config": {
        **config(erp), "pull": pull}, "credentials": {"auth": "bearer", "token": TOKEN}})
    sync(admin, made.json["data"]["id"])
    assert erp.requests[0][1] == "/api/items?limit=2"


def test_oauth_client_credentials_token_cached_and_renewed_once_on_401(admin: Api) -> None:
    with Erp(N) as erp:
        erp.oauth = ("gatehouse", "client-secret-value")
        conn = connect(admin, erp, credentials={
            "auth": "oauth2", "tokenUrl": erp.url + "/oauth/token",
            "clientId": "gatehouse", "clientSecret": "client-secret-value"})
        assert sync(admin, conn)["counts"]["created"] == N
        assert erp.token_requests == 1  # one token for the three pages
        erp.tokens.clear()  # the remote revoked it
        assert sync(admin, conn)["status"] == "completed"
        assert erp.token_requests == 2
        erp.oauth = ("gatehouse", "rotated")  # our secret no longer works
        erp.tokens.clear()
        failed = sync(admin, conn)
        assert failed["status"] == "failed"
        assert "token endpoint" in failed["error"]["message"]
        assert "client-secret-value" not in json.dumps(failed)


def test_a_preset_is_a_template_with_its_own_mapping(admin: Api, erp: Erp) -> None:
    catalog = {e["type"]: e for e in admin.get(f"{V}/integrations/catalog").json["data"]}
    for name in ("emis", "hr", "finance", "crm", "erp", "accounting"):
        assert catalog[name]["template"] is True
        assert "not a certified adapter" in catalog[name]["description"]
    assert catalog["rest"]["template"] is False
    resp = admin.post(f"{V}/integrations", {
        "type": "erp", "name": "Our ERP", "config": {
            "baseUrl": erp.url + "/api", "pull": config(erp)["pull"]},
        "credentials": {"auth": "bearer", "token": TOKEN}})
    assert resp.status_code == 201, resp.body
    cfg = resp.json["data"]["config"]
    assert cfg["resource"] == "products" and cfg["mapping"]["sku"] == "itemNumber"
    done = sync(admin, resp.json["data"]["id"])
    assert done["counts"]["created"] == N
    assert products(admin)["SKU-00001"]["category"] == "parts"


def test_a_rejected_credential_fails_the_run_without_showing_it(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp, credentials={"auth": "bearer", "token": "wrong-token-xyz"})
    failed = sync(admin, conn)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "VALIDATION_ERROR"
    assert "answered 401" in failed["error"]["message"]
    assert "wrong-token-xyz" not in json.dumps(failed)
    assert len(erp.requests) == 1  # a 4xx is not retried


def test_the_ssrf_guard_refuses_private_targets(admin: Api, erp: Erp,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(admin, erp)
    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="")
    # At create: the URL is checked.
    resp = admin.post(f"{V}/integrations", {"type": "rest", "name": "x",
                                            "config": config(erp)})
    assert_error(resp, 422, "VALIDATION_ERROR")
    # At every call: a connection made while it was allowed is refused now.
    failed = sync(admin, conn)
    assert failed["status"] == "failed"
    assert "refused: 127.0.0.1 is a loopback address" in failed["error"]["message"]
    assert erp.requests == []
    for url in ("http://169.254.169.254/latest", "http://10.0.0.5/api", "ftp://erp.example"):
        resp = admin.post(f"{V}/integrations", {"type": "rest", "name": "x",
                                                "config": {**config(erp), "baseUrl": url}})
        assert_error(resp, 422, "VALIDATION_ERROR")


def test_a_token_url_in_the_credentials_is_checked_when_set(admin: Api, erp: Erp) -> None:
    """The OAuth token URL sits in the credentials: it passes the guard at create, not
    only when the first sync calls it."""
    resp = admin.post(f"{V}/integrations", {
        "type": "rest", "name": "x", "config": config(erp), "credentials": {
            "auth": "oauth2", "tokenUrl": "http://169.254.169.254/latest/meta-data",
            "clientId": "gatehouse", "clientSecret": "client-secret-value"}})
    err = assert_error(resp, 422, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "credentials.tokenUrl"
    assert "client-secret-value" not in resp.body.decode()


def test_redirects_are_not_followed() -> None:
    import http.server

    from chalicelib.integrations import outbound

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with Erp(0) as erp:
        erp.server.RequestHandlerClass = Redirect
        with pytest.raises(outbound.RemoteError) as caught:
            outbound.request("GET", erp.url + "/x")
    assert "redirect, not followed" in caught.value.message
    assert not caught.value.transient


# -- push --------------------------------------------------------------------------

def test_push_sends_a_mapped_record(admin: Api, erp: Erp) -> None:
    from chalicelib.integrations import repo, rest

    conn_id = connect(admin, erp, push={"path": "/push/items/{sku}", "method": "PUT"})
    conn = repo.load(conn_id)
    assert conn is not None
    got = rest.REST.push(conn, {"sku": "A B/1", "name": "Mug", "price": "12.50",
                                "category": "kitchen", "id": "prd_x"})
    assert got == {"status": 201}
    assert erp.pushed == [("PUT", "/api/push/items/A%20B%2F1", {
        "itemNumber": "A B/1", "itemName": "Mug", "salesPrice": "12.50",
        "itemGroup": "kitchen"})]


def test_the_connection_test_is_one_get(admin: Api, erp: Erp) -> None:
    good = connect(admin, erp)
    resp = admin.post(f"{V}/integrations/{good}/test")
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["ok"] is True and resp.json["data"]["detail"] == {"status": 200}
    assert erp.requests == [("GET", "/api/items")]
    bad = connect(admin, erp, credentials={"auth": "bearer", "token": "not-the-token"})
    answer = admin.post(f"{V}/integrations/{bad}/test").json["data"]
    assert answer["ok"] is False and answer["message"] == "GET /api/items answered 401"
    assert len(erp.requests) == 2  # a 4xx is not retried


def test_header_injection_is_refused_without_echoing_the_value(admin: Api, erp: Erp) -> None:
    from chalicelib.integrations import outbound

    sneaky = "tok\r\nX-Injected: 1"
    resp = admin.post(f"{V}/integrations", {"type": "rest", "name": "x", "config": config(erp),
                                            "credentials": {"auth": "bearer", "token": sneaky}})
    assert_error(resp, 422, "VALIDATION_ERROR")
    assert "X-Injected" not in resp.body.decode()
    with pytest.raises(outbound.RemoteError) as caught:
        outbound.request("GET", erp.url + "/api/items", headers={"Authorization": sneaky})
    assert not caught.value.transient and "X-Injected" not in caught.value.message
    assert erp.requests == []
