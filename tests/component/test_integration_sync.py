"""Syncs of REST integrations against a real local HTTP server playing a paginated ERP
(tests/erp_server.py): jobs run by the jobs queue's worker as app.py's handler runs
them; creates, no-op re-runs, updates, conflicts, source of truth, resumes, retries,
the SSRF guard, auth kinds, logs and status, owners, and secrets kept out of answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.component.helpers import assert_error, set_env
from tests.component.jobs_queue import Died, jobs_url, record, run_jobs, sqs
from tests.conftest import Api, make_user
from tests.erp_server import Erp, item

V = "/api/v1"
TOKEN = "erp-bearer-token-s3cr3t-value"
N = 12  # records the ERP holds: pages of 5 (moto's transactions copy the whole table)
MAPPING = {"sku": "itemNumber", "name": "itemName", "price": "salesPrice",
           "category": "itemGroup"}


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.integrations import rest

    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")
    monkeypatch.setattr(rest, "BACKOFF", 0.0)  # retries without waiting


@pytest.fixture
def erp() -> Iterator[Erp]:
    with Erp(N) as server:
        server.expect_auth = ("Authorization", f"Bearer {TOKEN}")
        yield server


def config(erp: Erp, **extra: Any) -> dict[str, Any]:
    return {"baseUrl": erp.url + "/api", "resource": "products",
            "pull": {"path": "/items", "pagination": "cursor", "cursorParam": "cursor",
                     "cursorField": "meta.next", "itemsField": "data.items",
                     "query": {"limit": "5"}},
            "mapping": MAPPING, "updatedAtField": "modified", **extra}


def connect(api: Api, erp: Erp, type_: str = "rest", credentials: Any = None,
            **extra: Any) -> str:
    resp = api.post(f"{V}/integrations", {
        "type": type_, "name": "ERP", "config": config(erp, **extra),
        "credentials": credentials or {"auth": "bearer", "token": TOKEN}})
    assert resp.status_code == 201, resp.body
    return str(resp.json["data"]["id"])


def sync(api: Api, conn: str) -> dict[str, Any]:
    """Starts a sync, runs the jobs queue, answers the status."""
    resp = api.post(f"{V}/integrations/{conn}/sync")
    assert resp.status_code == 202, resp.body
    assert resp.headers["Location"] == f"{V}/integrations/{conn}/status"
    assert resp.json["data"]["status"] == "pending"
    run_jobs()
    status = api.get(f"{V}/integrations/{conn}/status")
    assert status.status_code == 200, status.body
    assert status.json["data"]["runId"] == resp.json["data"]["runId"]
    return dict(status.json["data"])


def products(api: Api) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor = ""
    while True:
        page = api.get(f"{V}/products?perPage=100{cursor}").json
        out.update({p["sku"]: p for p in page["data"]})
        if not page["pagination"]["nextCursor"]:
            return out
        cursor = f"&cursor={page['pagination']['nextCursor']}"


def logs(api: Api, conn: str, query: str = "") -> list[dict[str, Any]]:
    resp = api.get(f"{V}/integrations/{conn}/logs?perPage=100{query}")
    assert resp.status_code == 200, resp.body
    return list(resp.json["data"])


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every record write the sync makes (the resource service's creates and updates)."""
    from chalicelib.resources import service

    made: list[str] = []
    real_create, real_many, real_update = service.create, service.create_many, service.update

    def create(*args: Any, **kw: Any) -> Any:
        made.append("create")
        return real_create(*args, **kw)

    def create_many(res: Any, actor: Any, prepared: list[Any]) -> Any:
        made.extend("create" for _ in prepared)
        return real_many(res, actor, prepared)

    def update(*args: Any, **kw: Any) -> Any:
        made.append("update")
        return real_update(*args, **kw)

    monkeypatch.setattr(service, "create", create)
    monkeypatch.setattr(service, "create_many", create_many)
    monkeypatch.setattr(service, "update", update)
    return made


# -- pull --------------------------------------------------------------------------

def test_a_pull_creates_then_a_second_run_writes_nothing(
        admin: Api, erp: Erp, writes: list[str]) -> None:
    conn = connect(admin, erp)
    assert admin.get(f"{V}/integrations/{conn}/status").json["data"]["status"] == "never"
    first = sync(admin, conn)
    assert first["status"] == "completed", first
    assert first["counts"] == {"records": N, "created": N, "updated": 0, "skipped": 0,
                               "failed": 0}
    assert first["pages"] == 3 and writes.count("create") == N
    got = products(admin)
    assert sorted(got) == [f"SKU-{i:05d}" for i in range(N)]
    assert got["SKU-00007"]["price"] == "8.07" and got["SKU-00007"]["name"] == "Item 7"
    check = first["consistency"]
    assert check["consistent"] and check["remote"] == check["ours"]
    assert check["remote"]["count"] == N and check["differing"] == 0
    created = logs(admin, conn)
    assert len(created) == N and {e["action"] for e in created} == {"created"}
    assert created[0]["recordKey"] == "SKU-00000" and created[0]["runId"] == first["runId"]
    # pages were asked for by cursor, the limit from the config's fixed query
    gets = [p for m, p in erp.requests if m == "GET"]
    assert gets == ["/api/items?limit=5", "/api/items?limit=5&cursor=5",
                    "/api/items?limit=5&cursor=10"]

    writes.clear()
    second = sync(admin, conn)
    assert second["status"] == "completed"
    assert second["counts"] == {"records": N, "created": 0, "updated": 0, "skipped": N,
                                "failed": 0}
    assert writes == []  # nothing written
    assert logs(admin, conn) == []  # unchanged records are counted, not logged
    assert second["consistency"]["ours"] == first["consistency"]["ours"]


def test_a_remote_change_updates_the_record_and_raises_its_event(
        admin: Api, erp: Erp, writes: list[str]) -> None:
    conn = connect(admin, erp)
    sync(admin, conn)
    changed = erp.find("SKU-00003")
    changed.update(salesPrice="99.95", modified="2999-01-01T00:00:00Z")
    erp.items.append(item(30))
    writes.clear()
    done = sync(admin, conn)
    assert done["counts"]["updated"] == 1 and done["counts"]["created"] == 1
    assert done["counts"]["skipped"] == N - 1
    assert sorted(writes) == ["create", "update"]
    assert products(admin)["SKU-00003"]["price"] == "99.95"
    entries = logs(admin, conn)
    assert [(e["recordKey"], e["action"]) for e in entries] == [
        ("SKU-00003", "updated"), ("SKU-00030", "created")]
    assert entries[0]["fields"] == ["price"]
    assert [e["recordKey"] for e in logs(admin, conn, "&action=created")] == ["SKU-00030"]
    assert _event_types().count("product.updated") == 1


def _event_types() -> list[str]:
    from chalicelib.store import table as store

    found = store.table().scan(FilterExpression="begins_with(PK, :p)",
                               ExpressionAttributeValues={":p": "OUTBOX#evt_"})["Items"]
    return [json.loads(str(i["event"]))["event"] for i in found]


def test_conflicts_go_to_the_newer_side_unless_the_field_is_owned(
        admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp, sourceOfTruth=["price"])
    sync(admin, conn)
    ours = products(admin)["SKU-00004"]
    resp = admin.put(f"{V}/products/{ours['id']}", {"name": "Our name", "price": "1.00"})
    assert resp.status_code == 200, resp.body
    # The remote changes both, but says it did so before our edit.
    erp.find("SKU-00004").update(itemName="Their name", salesPrice="2.00",
                                 modified="2021-01-01T00:00:00Z")
    done = sync(admin, conn)
    after = products(admin)["SKU-00004"]
    assert after["price"] == "2.00"        # the connection owns price
    assert after["name"] == "Our name"     # ours is newer
    [entry] = logs(admin, conn)
    assert entry["action"] == "updated" and entry["fields"] == ["price"]
    assert "ours is newer for name" in entry["reason"]
    check = done["consistency"]
    assert not check["consistent"] and check["differingKeys"] == ["SKU-00004"]
    assert check["remote"]["count"] == check["ours"]["count"] == N
    assert check["remote"]["checksum"] != check["ours"]["checksum"]

    # Newer on their side: theirs wins.
    erp.find("SKU-00004").update(modified="2999-01-01T00:00:00Z")
    again = sync(admin, conn)
    assert products(admin)["SKU-00004"]["name"] == "Their name"
    assert again["consistency"]["consistent"]


def test_ours_newer_and_nothing_owned_is_a_logged_skip(admin: Api, erp: Erp,
                                                       writes: list[str]) -> None:
    conn = connect(admin, erp)
    sync(admin, conn)
    ours = products(admin)["SKU-00001"]
    assert admin.put(f"{V}/products/{ours['id']}", {"category": "ours"}).status_code == 200
    writes.clear()
    done = sync(admin, conn)
    assert writes == [] and done["counts"]["skipped"] == N
    [entry] = logs(admin, conn)
    assert (entry["recordKey"], entry["action"], entry["reason"], entry["fields"]) == (
        "SKU-00001", "skipped", "ours is newer", ["category"])


def test_bad_remote_records_fail_alone(admin: Api, erp: Erp) -> None:
    erp.find("SKU-00002")["salesPrice"] = "not money"
    del erp.find("SKU-00005")["itemNumber"]
    erp.find("SKU-00006")["itemName"] = ""
    conn = connect(admin, erp)
    done = sync(admin, conn)
    assert done["status"] == "completed"
    assert done["counts"]["created"] == N - 3 and done["counts"]["failed"] == 3
    failed = logs(admin, conn, "&action=failed")
    by_key = {e["recordKey"]: e["reason"] for e in failed}
    assert by_key["SKU-00002"].startswith("price:")
    assert by_key["SKU-00006"].startswith("name:")
    assert by_key[None] == "no sku in the record"
    assert done["consistency"]["differing"] == 2  # the two with a key


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
    from chalicelib.integrations import presets
    from chalicelib.integrations.connector import CONNECTORS

    assert presets.ERP.type == "erp"
    catalog = {name: kind.catalog_entry() for name, kind in CONNECTORS.items()}
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


# -- resumes, retries, failures ----------------------------------------------------

def test_a_sync_killed_mid_page_resumes_without_duplicates(
        admin: Api, erp: Erp, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.core import clock
    from chalicelib.jobs import repo as jobs_repo
    from chalicelib.jobs import worker
    from chalicelib.resources import service

    conn = connect(admin, erp)
    run = admin.post(f"{V}/integrations/{conn}/sync").json["data"]
    real, calls = service.create_many, []

    def create_then_die(res: Any, actor: Any, prepared: list[Any]) -> Any:
        done = real(res, actor, prepared)
        calls.extend(prepared)
        if len(calls) == 10:
            raise Died  # pages 1 and 2 written; the checkpoint says page 1
        return done

    monkeypatch.setattr(service, "create_many", create_then_die)
    msg = sqs().receive_message(QueueUrl=jobs_url(), WaitTimeSeconds=0)["Messages"][0]
    with pytest.raises(Died):
        worker.process_batch({"Records": [record(msg)]})
    dead = jobs_repo.get(run["runId"])
    assert dead is not None and dead.processed_rows == 5 and dead.lease_until
    assert dead.checkpoint and dead.checkpoint["cursor"] == "5"
    running = admin.post(f"{V}/integrations/{conn}/sync")
    assert_error(running, 409, "CONFLICT")
    clock.advance(dead.lease_until - clock.now() + 1)
    sqs().change_message_visibility(QueueUrl=jobs_url(), ReceiptHandle=msg["ReceiptHandle"],
                                    VisibilityTimeout=0)
    run_jobs()
    status = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert status["status"] == "completed"
    assert len(products(admin)) == N
    assert len(calls) == N  # page 2, written before the death, not created again
    assert status["counts"]["created"] == N - 5 and status["counts"]["skipped"] == 5
    assert status["consistency"]["consistent"]
    keys = [e["recordKey"] for e in logs(admin, conn)]
    assert len(keys) == len(set(keys)) == N - 5
    assert _event_types().count("product.created") == N  # each record's event, once


def test_remote_500s_are_retried_then_the_run_fails_clearly(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp)
    erp.fail["/api/items"] = 2  # two 500s, then answers: retried within the step
    assert sync(admin, conn)["counts"]["created"] == N
    assert len(erp.requests) == 5
    erp.fail["/api/items"] = 100
    failed = sync(admin, conn)
    assert failed["status"] == "failed"
    error = failed["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert "GET /api/items: answered 500 (3 tries)" in error["message"]
    assert TOKEN not in json.dumps(failed)  # the 500's body echoed our header


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


# -- the routes --------------------------------------------------------------------

def test_one_run_at_a_time_and_logs_paged(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp)
    first = admin.post(f"{V}/integrations/{conn}/sync")
    assert first.status_code == 202
    assert_error(admin.post(f"{V}/integrations/{conn}/sync"), 409, "CONFLICT")
    status = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert status["status"] == "pending" and status["runId"] == first.json["data"]["runId"]
    run_jobs()
    page = admin.get(f"{V}/integrations/{conn}/logs?perPage=5").json
    assert len(page["data"]) == 5 and page["pagination"]["hasMore"]
    rest = admin.get(f"{V}/integrations/{conn}/logs?perPage=100&cursor="
                     f"{page['pagination']['nextCursor']}").json["data"]
    assert len(rest) == N - 5 and rest[0]["recordKey"] == "SKU-00005"
    second = admin.post(f"{V}/integrations/{conn}/sync")
    assert second.status_code == 202  # the first finished
    run_jobs()
    older = logs(admin, conn, f"&runId={first.json['data']['runId']}")
    assert len(older) == N
    assert_error(admin.get(f"{V}/integrations/{conn}/logs?runId=nope"), 400,
                 "VALIDATION_ERROR")
    assert_error(admin.get(f"{V}/integrations/{conn}/logs?action=deleted"), 400,
                 "VALIDATION_ERROR")
    other = "syn_" + "0" * 26
    assert_error(admin.get(f"{V}/integrations/{conn}/logs?runId={other}"), 404, "NOT_FOUND")


def test_owners_scopes_and_unknown_ids(admin: Api, erp: Erp) -> None:
    owner, _ = make_user(admin, "syncowner", ["integrator"])
    other, _ = make_user(admin, "syncother", ["integrator"])
    viewer, _ = make_user(admin, "syncviewer", ["viewer"])
    conn = connect(owner, erp)
    for path in (f"{conn}/status", f"{conn}/logs"):
        assert_error(other.get(f"{V}/integrations/{path}"), 404, "NOT_FOUND")
    assert_error(other.post(f"{V}/integrations/{conn}/sync"), 404, "NOT_FOUND")
    assert_error(viewer.post(f"{V}/integrations/{conn}/sync"), 403, "AUTHORIZATION_ERROR")
    assert_error(owner.post(f"{V}/integrations/int_nope/sync"), 404, "NOT_FOUND")
    assert sync(owner, conn)["counts"]["created"] == N
    assert admin.get(f"{V}/integrations/{conn}/status").json["data"]["status"] == "completed"


def test_a_sync_needs_the_resource_write_scope(admin: Api, erp: Erp) -> None:
    from tests.conftest import client_token

    conn = connect(admin, erp)
    narrow = admin.as_bearer(client_token(
        admin, scope="integrations:manage products:read")["access_token"])
    resp = narrow.post(f"{V}/integrations/{conn}/sync")
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert "products:write" in resp.json["error"]["message"]


def test_a_paused_or_deleted_integration_does_not_sync(admin: Api, erp: Erp) -> None:
    conn = connect(admin, erp)
    assert admin.patch(f"{V}/integrations/{conn}", {"status": "paused"}).status_code == 200
    assert_error(admin.post(f"{V}/integrations/{conn}/sync"), 409, "CONFLICT")
    admin.patch(f"{V}/integrations/{conn}", {"status": "active"})
    push_only = connect(admin, erp, pull=None, push={"path": "/push"})
    assert_error(admin.post(f"{V}/integrations/{push_only}/sync"), 422, "VALIDATION_ERROR")
    run = admin.post(f"{V}/integrations/{conn}/sync").json["data"]
    assert admin.delete(f"{V}/integrations/{conn}").status_code == 204
    run_jobs()
    from chalicelib.jobs import repo as jobs_repo

    job = jobs_repo.get(run["runId"])
    assert job is not None and job.status in ("cancelled", "failed")
    assert products(admin) == {}


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


# -- schedules ---------------------------------------------------------------------

def test_scheduled_syncs_start_when_due(admin: Api, erp: Erp) -> None:
    from chalicelib.core import clock
    from chalicelib.integrations import sync_schedule
    from tests.conftest import client_token

    conn = connect(admin, erp, schedule={"everyMinutes": 15})
    unscheduled = connect(admin, erp)
    narrow = admin.as_bearer(client_token(admin, scope="integrations:manage")["access_token"])
    no_write = connect(narrow, erp, schedule={"everyMinutes": 15})
    assert sync_schedule.run_due() == {"started": 1, "skipped": 1}
    assert sync_schedule.run_due() == {"skipped": 1}  # the first just started: not due
    run_jobs()
    status = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert status["status"] == "completed" and status["counts"]["created"] == N
    for idle in (unscheduled, no_write):
        assert admin.get(f"{V}/integrations/{idle}/status").json["data"]["status"] == "never"
    clock.advance(15 * 60)
    admin.patch(f"{V}/integrations/{no_write}", {"status": "paused"})
    assert sync_schedule.run_due() == {"started": 1}
    run_jobs()
    again = admin.get(f"{V}/integrations/{conn}/status").json["data"]
    assert again["runId"] != status["runId"] and again["counts"]["skipped"] == N
    resp = admin.post(f"{V}/integrations", {"type": "rest", "name": "x", "config": {
        **config(erp), "pull": None, "schedule": {"everyMinutes": 15}}})
    assert_error(resp, 422, "VALIDATION_ERROR")
    resp = admin.post(f"{V}/integrations", {"type": "rest", "name": "x", "config": {
        **config(erp), "schedule": {"everyMinutes": 1}}})
    assert_error(resp, 422, "VALIDATION_ERROR")


def test_a_sandbox_connection_syncs_into_sandbox_data_only(admin: Api, erp: Erp) -> None:
    owner, _ = make_user(admin, "syncsandbox", ["integrator"])
    resp = owner.post(f"{V}/api-keys", {"name": "sbx", "sandbox": True, "scopes": [
        "integrations:manage", "products:read", "products:write"]})
    assert resp.status_code == 201, resp.body
    sandbox = owner.as_key(resp.json["data"]["key"])
    live = connect(owner, erp)
    mine = connect(sandbox, erp)
    for call in (sandbox.post(f"{V}/integrations/{live}/sync"),
                 sandbox.get(f"{V}/integrations/{live}/status"),
                 sandbox.get(f"{V}/integrations/{live}/logs")):
        assert_error(call, 404, "NOT_FOUND")
    assert sync(sandbox, mine)["counts"]["created"] == N
    assert len(products(sandbox)) == N
    assert products(admin) == {}  # live data untouched


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
