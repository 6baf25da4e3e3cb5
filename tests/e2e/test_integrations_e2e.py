"""A REST connection synced end to end: a paginated JSON API served on loopback by this
test (the local stack lets integrations reach 127.0.0.1: GATEHOUSE_WEBHOOK_ALLOWED_HOSTS
defaults to it there), a connection created over HTTP, a sync run by the local stack's
worker through the SSRF guard, its status, consistency check and per-record logs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

pytestmark = pytest.mark.e2e
TOKEN = "remote-e2e-token"


class Remote:
    """The remote API: cursor pagination under data.items / meta.next, bearer auth."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items, self.calls = items, 0
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook
                remote.calls += 1
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                query = parse_qs(urlparse(self.path).query)
                start = int(query.get("cursor", ["0"])[0])
                # Its own page size unless asked (cursor pulls do not send pageSize).
                size = int(query.get("pageSize", ["10"])[0])
                following = start + size if start + size < len(remote.items) else None
                body = json.dumps({"data": {"items": remote.items[start:start + size]},
                                   "meta": {"next": following}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"


@pytest.fixture
def remote() -> Iterator[Remote]:
    tag = str(time.time_ns())[-9:]
    served = Remote([{"itemNumber": f"R{tag}-{i:02d}", "itemName": f"Remote {i}",
                      "salesPrice": f"{i}.10"} for i in range(23)])
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        thread.join()


def synced(api: httpx.Client, conn: str, timeout: float = 60.0) -> dict[str, Any]:
    run = api.post(f"/api/v1/integrations/{conn}/sync")
    assert run.status_code == 202, run.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(f"/api/v1/integrations/{conn}/status")
        assert status.status_code == 200, status.text
        data = status.json()["data"]
        if data["runId"] == run.json()["data"]["runId"] and \
                data["status"] not in ("pending", "running"):
            return dict(data)
        time.sleep(0.25)
    raise AssertionError(f"the sync of {conn} did not finish")


def test_a_rest_sync_pulls_every_page_from_a_local_api(admin_http: httpx.Client,
                                                       remote: Remote) -> None:
    api = admin_http
    assert "rest" in {t["type"] for t in api.get("/api/v1/integrations/catalog").json()["data"]}
    made = api.post("/api/v1/integrations", json={
        "type": "rest", "name": "Local ERP",
        "config": {"baseUrl": remote.url, "resource": "products",
                   "pull": {"path": "/items", "cursorField": "meta.next",
                            "itemsField": "data.items", "pageSize": 10},
                   "mapping": {"sku": "itemNumber", "name": "itemName",
                               "price": "salesPrice"}},
        "credentials": {"auth": "bearer", "token": TOKEN}})
    assert made.status_code == 201, made.text
    conn = made.json()["data"]["id"]
    assert TOKEN not in made.text and TOKEN not in api.get(f"/api/v1/integrations/{conn}").text
    tested = api.post(f"/api/v1/integrations/{conn}/test")
    assert tested.status_code == 200 and tested.json()["data"]["ok"] is True, tested.text

    first = synced(api, conn)
    assert first["status"] == "completed", json.dumps(first)
    assert first["pages"] == 3 and first["counts"]["created"] == 23
    assert first["consistency"]["consistent"] is True
    sku = remote.items[7]["itemNumber"]
    found = api.get("/api/v1/products", params={"q": sku}).json()["data"]
    assert [(p["sku"], p["name"], p["price"]) for p in found] == [(sku, "Remote 7", "7.10")]
    logs = api.get(f"/api/v1/integrations/{conn}/logs", params={"runId": first["runId"]})
    assert logs.status_code == 200, logs.text
    assert {entry["action"] for entry in logs.json()["data"]} == {"created"}

    remote.items[7]["itemName"] = "Renamed remotely"
    second = synced(api, conn)
    assert second["counts"]["updated"] == 1 and second["counts"]["created"] == 0, second
    assert api.get("/api/v1/products", params={"q": sku}).json()["data"][0]["name"] == \
        "Renamed remotely"


def test_a_connection_is_its_owners(admin_http: httpx.Client, local_stack: Any,
                                    remote: Remote) -> None:
    tag = str(time.time_ns())[-9:]
    made = admin_http.post("/api/v1/users", json={
        "username": f"other{tag}", "email": f"other{tag}@example.com",
        "password": "other-password-1", "roles": ["integrator"]})
    assert made.status_code == 201, made.text
    login = httpx.post(f"{local_stack.base_url}/api/v1/auth/login", json={
        "username": f"other{tag}", "password": "other-password-1"})
    conn = admin_http.post("/api/v1/integrations", json={
        "type": "rest", "name": "Admin's", "config": {
            "baseUrl": remote.url, "resource": "products", "pull": {"path": "/items"},
            "mapping": {"sku": "itemNumber", "name": "itemName"}},
        "credentials": {"auth": "bearer", "token": TOKEN}}).json()["data"]["id"]
    with httpx.Client(base_url=local_stack.base_url, timeout=10.0, headers={
            "Authorization": f"Bearer {login.json()['access_token']}"}) as other:
        for answer in (other.get(f"/api/v1/integrations/{conn}"),
                       other.post(f"/api/v1/integrations/{conn}/sync"),
                       other.get(f"/api/v1/integrations/{conn}/logs")):
            assert answer.status_code == 404, answer.text
            assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert remote.calls == 0  # nothing reached the remote on the other user's behalf
