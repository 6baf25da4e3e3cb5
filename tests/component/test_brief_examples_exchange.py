"""The brief documents' (../shared/brief/) request examples about exports, imports, the
data subject's export, integrations and notifications, sent as the briefs write them
(their paths, field names, shapes and values; only ids are real ones); each answers
success. Paths map as in test_brief_examples.py: the briefs' paths are served under
/api/v1 (`/api/export` -> `/api/v1/exports`, `/api/import` -> `/api/v1/imports`,
`/api/integrations` -> `/api/v1/integrations`); doc 004's notification service is
`/api/v{1,2}/notifications`.

Covered: 000's exports and integrations endpoint lists (US-INT-001, US-INT-002) and
002's export, import and template endpoints, with the contract's bodies (the briefs
give none); 001's `POST /api/import {type, data, options?}` and `GET /api/import/[id]`;
001's export `type, format, filters` (as the body of POST /exports); 003's GDPR export;
004's `POST /api/v1/notifications/send/` body, `GET /api/v2/notifications/inapp/?is_read=
&page=` and `PATCH /api/v2/notifications/inapp/{id}/ {"is_read": true}`.

Also 001's `GET /api/export?type=&format=&filters=` answering `{downloadUrl, expiresAt}`
at once (a small export runs within the request; a longer one answers 202 with its
job), and 002's integrations addressed by type (`POST /api/integrations/:type/connect`,
`/:type/status`, `/:type/sync`, `DELETE /:type`: the caller's one connection of that
type). Answers keep our envelope (`{data: {id, status, ...}}`, not 001's `{importId, status}`
or 004's `{success, message}`). Not built yet: monitoring, cache, backups, versions,
health/* and diagnostics (see test_brief_examples.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.helpers import assert_error, resolve_example_com_publicly
from tests.component.integration_sync_helpers import TOKEN, allow_loopback, config
from tests.component.jobs_queue import run_jobs
from tests.component.test_brief_examples import ok, seed
from tests.component.test_exports import _empty_bucket  # noqa: F401 - autouse
from tests.conftest import Api, make_user
from tests.erp_server import Erp

V, V2 = "/api/v1", "/api/v2"
CSV = {"Content-Type": "text/csv"}
JSON_LINK = {"Accept": "application/json"}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve_example_com_publicly(monkeypatch)
    allow_loopback(monkeypatch)


# ---- exports: 000 US-INT-002, 002's Export, 001's type/format/filters --------------

def test_exports_endpoint_list(admin: Api) -> None:
    """000: GET/POST /exports, GET /{id}, /{id}/status, /{id}/download, DELETE /{id},
    POST /exports/schedules; 002: POST /api/export, GET /:id, GET /:id/download. Formats
    of 000 (JSON, CSV, Excel) and 001 (XML)."""
    seed(admin)
    for fmt in ("json", "csv", "xlsx", "xml"):
        made = ok(admin.post(f"{V}/exports", {"entity": "products", "format": fmt}), 202)
        assert made["data"]["status"] == "pending" and made["data"]["format"] == fmt
    eid = made["data"]["id"]
    run_jobs()
    listed = ok(admin.get(f"{V}/exports"), 200)["data"]
    assert len(listed) == 4 and {e["status"] for e in listed} == {"completed"}
    assert ok(admin.get(f"{V}/exports/{eid}"), 200)["data"]["status"] == "completed"
    assert ok(admin.get(f"{V}/exports/{eid}/status"), 200)["data"]["status"] == "completed"
    assert admin.get(f"{V}/exports/{eid}/download").status_code == 302
    link = ok(admin.get(f"{V}/exports/{eid}/download", headers=JSON_LINK), 200)["data"]
    assert link["downloadUrl"] and link["expiresAt"]
    ok(admin.delete(f"{V}/exports/{eid}"), 200)
    sched = ok(admin.post(f"{V}/exports/schedules", {
        "entity": "products", "format": "csv", "schedule": "rate(1 day)"}), 201)["data"]
    assert sched["schedule"] == "rate(1 day)"


def test_export_cancel_of_a_running_job(admin: Api) -> None:
    """000: "Allow cancellation of long-running export jobs" (DELETE /exports/{id})."""
    made = ok(admin.post(f"{V}/exports", {"entity": "products", "format": "csv"}), 202)
    gone = ok(admin.delete(f"{V}/exports/{made['data']['id']}"), 200)["data"]
    assert gone["status"] == "cancelled"


def test_export_with_the_ayurveda_names(admin: Api) -> None:
    """001's export parameters `type, format, filters?` as a POST /exports body."""
    seed(admin)
    made = ok(admin.post(f"{V}/exports", {"type": "products", "format": "csv",
                                           "filters": {"category": "electronics"}}), 202)
    assert made["data"]["entity"] == "products"
    run_jobs()
    link = ok(admin.get(f"{V}/exports/{made['data']['id']}/download", headers=JSON_LINK),
              200)["data"]
    assert link["downloadUrl"] and link["expiresAt"]  # 001's answer: {downloadUrl, expiresAt}


def test_gdpr_export_of_a_customer(admin: Api) -> None:
    """003: "GDPR compliance (data deletion, export)": the data subject's export."""
    ids = seed(admin)
    made = ok(admin.post(f"{V}/customers/{ids['customer']}/export"), 202)["data"]
    assert made["format"] == "json"
    run_jobs()
    assert ok(admin.get(f"{V}/exports/{made['id']}"), 200)["data"]["status"] == "completed"


def test_export_link_at_once_as_the_ayurveda_brief_asks(admin: Api) -> None:
    """001: `GET /api/export?type=&format=&filters?` -> {downloadUrl, expiresAt}."""
    seed(admin)
    ok(admin.post(f"{V}/products", {"sku": "PROD-457", "name": "Pan", "price": "9.99",
                                    "category": "kitchen"}))
    got = ok(admin.get(f"{V}/exports?type=products&format=csv"
                       '&filters={"category":"electronics"}'), 200)["data"]
    assert got["downloadUrl"].startswith("http") and got["expiresAt"]
    made = got["export"]
    assert made["status"] == "completed" and made["rows"] == 1  # the filter held
    assert made["filters"] == {"category": "electronics"}
    history = ok(admin.get(f"{V}/exports"), 200)["data"]
    assert [e["id"] for e in history] == [made["id"]]  # an export like any other

    assert_error(admin.get(f"{V}/exports?format=csv"), 422, "VALIDATION_ERROR")
    assert_error(admin.get(f"{V}/exports?type=planets"), 422, "VALIDATION_ERROR")
    assert_error(admin.get(f"{V}/exports?type=products&fields=sku,colour"), 422,
                 "VALIDATION_ERROR")
    bad = admin.get(f"{V}/exports?type=products&filters=category:kitchen")
    assert bad.status_code == 400 and "filters" in json.dumps(bad.json)
    viewer, _ = make_user(admin, "viewer1", ["viewer"])  # no exports:run
    assert viewer.get(f"{V}/exports?type=products").status_code == 403
    assert len(ok(admin.get(f"{V}/exports"), 200)["data"]) == 1  # refusals started none


def test_export_link_at_once_answers_202_when_it_takes_longer(
        admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.exchange.exports import at_once, sources

    seed(admin)
    for n in range(2):
        ok(admin.post(f"{V}/products", {"sku": f"SKU-{n}", "name": "x", "price": "1.00"}))
    monkeypatch.setattr(at_once, "INLINE_SECONDS", 0.0)  # out of time after one page
    monkeypatch.setattr(sources, "PAGE_ROWS", 1)
    resp = admin.get(f"{V}/exports?type=products&format=json")
    assert resp.status_code == 202, resp.body
    job = resp.json["data"]
    assert job["status"] in ("pending", "running") and job["rows"] == 1
    assert resp.headers["Location"].endswith(job["id"])
    run_jobs()  # the continuation the request queued finishes it
    done = ok(admin.get(f"{V}/exports/{job['id']}"), 200)["data"]
    assert done["status"] == "completed" and done["rows"] == 3


def test_export_link_at_once_answers_a_failure_as_its_error(
        admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.exchange.exports import kind
    from chalicelib.jobs.kinds import JobFailed

    seed(admin)

    def lose_the_right(self: Any) -> Any:
        raise JobFailed("AUTHORIZATION_ERROR", "The owner no longer holds products:read.")

    monkeypatch.setattr(kind.ExportRun, "step", lose_the_right)
    err = assert_error(admin.get(f"{V}/exports?type=products"), 403, "AUTHORIZATION_ERROR")
    assert "no longer holds products:read" in err["message"]
    failed = ok(admin.get(f"{V}/exports/{err['exportId']}"), 200)["data"]
    assert failed["status"] == "failed"


# ---- imports: 002's Import, 001's POST /api/import {type, data, options?} ----------

def test_imports_endpoint_list(admin: Api) -> None:
    """002: POST /api/import, GET /api/import/:id, GET /api/import/templates/:entity."""
    template = admin.client.http.request(  # CSV: past the Api helper's JSON parsing
        "GET", f"{V}/imports/templates/products", body=b"",
        headers={**admin.headers, "Accept": "*/*"})
    assert template.status_code == 200, template.body
    assert template.body.decode().startswith("sku,name,price")
    made = ok(admin.post(f"{V}/imports?entity=products",
                         raw="sku,name,price\r\nIMP-1,Imported,9.99\r\n", headers=CSV), 202)
    iid = made["data"]["id"]
    run_jobs()
    got = ok(admin.get(f"{V}/imports/{iid}"), 200)["data"]
    assert got["status"] == "completed" and got["successCount"] == 1
    assert got["totalRows"] == 1 and got["processedRows"] == 1


def test_import_with_the_ayurveda_body(admin: Api) -> None:
    """001: POST /api/import { type, data, options? } -> { importId, status }; GET
    /api/import/[id] -> the import with its progress."""
    made = ok(admin.post(f"{V}/imports", {
        "type": "products",
        "data": [{"sku": "AYU-1", "name": "Ashwagandha", "price": 12.5},
                 {"sku": "AYU-2", "name": "Triphala", "price": "8.00"}],
    }), 202)["data"]
    assert made["status"] == "pending" and made["entity"] == "products"
    run_jobs()
    got = ok(admin.get(f"{V}/imports/{made['id']}"), 200)["data"]
    assert got["status"] == "completed" and got["successCount"] == 2
    assert got["processedRows"] == 2 and got["progress"]
    skus = {p["sku"] for p in ok(admin.get(f"{V}/products"), 200)["data"]}
    assert {"AYU-1", "AYU-2"} <= skus


def test_import_with_the_ayurveda_body_and_options(admin: Api) -> None:
    """`options` of 001's body: dryRun checks every row and writes nothing."""
    made = ok(admin.post(f"{V}/imports", {
        "type": "products", "data": [{"sku": "DRY-1", "name": "Dry", "price": 1}],
        "options": {"dryRun": True}}), 202)["data"]
    assert made["dryRun"] is True
    run_jobs()
    assert ok(admin.get(f"{V}/imports/{made['id']}"), 200)["data"]["successCount"] == 1
    assert ok(admin.get(f"{V}/products"), 200)["data"] == []


def test_import_body_shapes_refused_clearly(admin: Api) -> None:
    """The envelope's type in capitals (001's enum style) is the entity; a type the
    query contradicts, an unknown field, or no entity at all is refused, naming it."""
    made = ok(admin.post(f"{V}/imports", {"type": "PRODUCTS", "data": [
        {"sku": "CAP-1", "name": "Caps", "price": 1}]}), 202)["data"]
    assert made["entity"] == "products"
    err = assert_error(admin.post(f"{V}/imports?entity=customers", {
        "type": "products", "data": []}), 422, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "type"
    err = assert_error(admin.post(f"{V}/imports", {
        "type": "products", "data": [], "mode": "upsert"}), 422, "VALIDATION_ERROR")
    assert [d["field"] for d in err["details"]] == ["mode"]
    err = assert_error(admin.post(f"{V}/imports", {"data": []}), 400, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "entity"
    err = assert_error(admin.post(f"{V}/imports", raw="sku,name,price\r\n", headers=CSV),
                       400, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "entity"


# ---- integrations: 000 US-INT-001, 002's list -----------------------------------

def test_integrations_endpoint_list(admin: Api, erp: Erp) -> None:
    """000: GET/POST /integrations, GET/PUT/DELETE /{id}, POST /{id}/sync, GET
    /{id}/logs; 002: GET /api/integrations (the catalog of available ones too) and the
    connection's status. Bodies: the contract's {type, name, config, credentials}."""
    catalog = ok(admin.get(f"{V}/integrations/catalog"), 200)["data"]
    assert any(t["type"] == "rest" for t in catalog)
    made = ok(admin.post(f"{V}/integrations", {
        "type": "rest", "name": "HR system", "config": config(erp),
        "credentials": {"auth": "bearer", "token": TOKEN}}), 201)["data"]
    cid = made["id"]
    assert made["credentialsSet"] is True and TOKEN not in json.dumps(made)
    assert [c["id"] for c in ok(admin.get(f"{V}/integrations"), 200)["data"]] == [cid]
    assert ok(admin.get(f"{V}/integrations/{cid}"), 200)["data"]["name"] == "HR system"
    ok(admin.put(f"{V}/integrations/{cid}", {"name": "HR system (staff)"}), 200)
    run = ok(admin.post(f"{V}/integrations/{cid}/sync"), 202)["data"]
    run_jobs()
    status = ok(admin.get(f"{V}/integrations/{cid}/status"), 200)["data"]
    assert status["runId"] == run["runId"] and status["status"] == "completed"
    assert status["counts"]["created"] == status["counts"]["records"] > 0
    assert ok(admin.get(f"{V}/integrations/{cid}/logs"), 200)["data"]
    assert admin.delete(f"{V}/integrations/{cid}").status_code == 204
    assert admin.get(f"{V}/integrations/{cid}").status_code == 404


def test_integrations_by_type_as_taskflow_writes_them(admin: Api, erp: Erp) -> None:
    """002: POST /api/integrations/:type/connect, GET /:type/status, POST /:type/sync,
    DELETE /:type: the caller's own connection of that type."""
    assert_error(admin.get(f"{V}/integrations/rest/status"), 404, "NOT_FOUND")
    made = admin.post(f"{V}/integrations/rest/connect", {
        "config": config(erp), "credentials": {"auth": "bearer", "token": TOKEN}})
    assert made.status_code == 201, made.body
    cid = made.json["data"]["id"]
    assert made.json["data"]["type"] == "rest" and TOKEN not in json.dumps(made.json)
    again = ok(admin.post(f"{V}/integrations/rest/connect", {"name": "ERP"}), 200)["data"]
    assert again["id"] == cid and again["name"] == "ERP"  # reconfigured, not a second one
    assert_error(admin.post(f"{V}/integrations/rest/connect", {}), 422, "VALIDATION_ERROR")
    assert ok(admin.get(f"{V}/integrations/rest/status"), 200)["data"]["status"] == "never"
    run = ok(admin.post(f"{V}/integrations/rest/sync"), 202)["data"]
    run_jobs()
    status = ok(admin.get(f"{V}/integrations/rest/status"), 200)["data"]
    assert status["runId"] == run["runId"] and status["status"] == "completed"
    assert ok(admin.get(f"{V}/integrations/rest"), 200)["data"]["id"] == cid

    # Another user's "rest" is their own: none yet, whatever the admin has.
    other, _ = make_user(admin, "integrator2", ["integrator"])
    assert_error(other.get(f"{V}/integrations/rest/status"), 404, "NOT_FOUND")
    assert_error(other.post(f"{V}/integrations/rest/sync"), 404, "NOT_FOUND")
    assert other.delete(f"{V}/integrations/rest").status_code == 404
    assert_error(admin.post(f"{V}/integrations/warp_drive/connect", {}), 422,
                 "VALIDATION_ERROR")
    assert_error(admin.get(f"{V}/integrations/warp_drive/status"), 404, "NOT_FOUND")

    # Two of a type: which one is meant cannot be guessed.
    ok(admin.post(f"{V}/integrations", {"type": "rest", "name": "second", "config":
                                        config(erp), "credentials": {"auth": "none"}}), 201)
    assert_error(admin.get(f"{V}/integrations/rest/status"), 409, "CONFLICT")
    assert admin.delete(f"{V}/integrations/{cid}").status_code == 204
    assert admin.delete(f"{V}/integrations/rest").status_code == 204  # the one left
    assert ok(admin.get(f"{V}/integrations"), 200)["data"] == []


# ---- notifications: 004's Notification Service ------------------------------------

def test_send_notification_as_written(admin: Api) -> None:
    """POST /api/v1/notifications/send/ with X-API-Key and the brief's body."""
    key = ok(admin.post(f"{V}/api-keys", {"name": "notifier",
                                           "scopes": ["notifications:send"]}))["data"]["key"]
    resp = admin.as_key(key).post(f"{V}/notifications/send/", {
        "user_email": "user@example.com",
        "user_name": "John Doe",
        "notification_type": "task_assignment",
        "context_data": {"task_id": "T-456", "task_title": "Network Issue",
                         "role_name": "L2 Support"}})
    data = ok(resp, 200)["data"]
    assert data["status"] == "sent" and data["template"] == "task_assignment"
    assert [r["to"] for r in data["recipients"]] == ["user@example.com"]


def test_inapp_list_and_mark_read_as_written(admin: Api) -> None:
    """GET /api/v2/notifications/inapp/?is_read=false&page=1 -> count, unread_count,
    each {id, subject, message, is_read, created_at}; PATCH
    /api/v2/notifications/inapp/{id}/ {"is_read": true} -> {id, is_read, read_at}. The
    notification comes from a real export completing, through the events queue."""
    from tests.component.test_notifications import fan_out
    from tests.component.test_resources import outbox_events

    ok(admin.post(f"{V}/exports", {"entity": "products", "format": "csv"}), 202)
    run_jobs()
    assert fan_out(admin, *outbox_events("export.completed")) == {"batchItemFailures": []}
    listed = ok(admin.get(f"{V2}/notifications/inapp/?is_read=false&page=1"), 200)
    assert listed["count"] == 1 and listed["unread_count"] == 1
    assert listed["results"] == listed["data"]  # the brief reads `results`
    assert listed["next"] is None and listed["previous"] is None  # one page
    note = listed["data"][0]
    assert note["is_read"] is False and note["subject"] and note["message"]
    assert note["created_at"]
    marked = ok(admin.patch(f"{V2}/notifications/inapp/{note['id']}/", {"is_read": True}),
                200)["data"]
    assert marked["id"] == note["id"] and marked["is_read"] is True and marked["read_at"]
    assert ok(admin.get(f"{V2}/notifications/inapp/?is_read=false&page=1"))["count"] == 0
