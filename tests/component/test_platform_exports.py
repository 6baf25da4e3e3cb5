"""Exports of the platform's data (webhook deliveries, access logs, audit logs): an admin
exports everyone's, anyone else only their owner's (as the listings scope them); fields
and filters checked against the declarations; the data dictionary with the file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.component.helpers import assert_error, set_env
from tests.component.jobs_queue import Clockwork, run_jobs
from tests.component.test_exports import (  # noqa: F401 - _empty_bucket: autouse
    _empty_bucket,
    csv_rows,
    export_of,
    fetch,
    start,
)
from tests.conftest import Api, make_user

V = "/api/v1"


def exported(api: Api, body: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Starts the export, runs it, and answers the job and the file's JSON rows."""
    job = start(api, {"format": "json", **body})
    run_jobs()
    done = export_of(api, job["id"])
    assert done["status"] == "completed", done
    return done, json.loads(fetch(api, job["id"]))


@pytest.fixture
def hooks_env(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1")


def exported_csv_rows(api: Api, body: dict[str, Any]) -> list[dict[str, str]]:
    job = start(api, {**body, "format": "csv"})
    run_jobs()
    return csv_rows(fetch(api, job["id"]))


def hook(api: Api, path: str) -> str:
    resp = api.post(f"{V}/webhooks", {"url": f"http://127.0.0.1:9/{path}",
                                      "events": ["product.created"]})
    assert resp.status_code == 201, resp.body
    return str(resp.json["data"]["id"])


def fan_out(n: int) -> list[str]:
    """n product.created events fanned out to every subscribed webhook (deliveries made,
    none attempted)."""
    from chalicelib.events import outbox
    from chalicelib.webhooks import worker

    ids = []
    for i in range(n):
        event = outbox.new_event("product.created", {"id": f"prd_{i}", "name": f"Lamp {i}"})
        record = {"messageId": event["id"], "body": json.dumps(event)}
        assert worker.fan_out_batch({"Records": [record]}) == {"batchItemFailures": []}
        ids.append(event["id"])
    return ids


def test_deliveries_scoped_to_their_owner(admin: Api, hooks_env: None) -> None:
    ivy, _ = make_user(admin, "ivy", ["integrator"])
    mine, theirs = hook(ivy, "ivy"), hook(admin, "admin")
    events = fan_out(3)
    _, rows = exported(ivy, {"entity": "webhook_deliveries"})
    assert len(rows) == 3 and {r["webhookId"] for r in rows} == {mine}
    assert {r["eventId"] for r in rows} == set(events)
    row = rows[0]
    assert row["payload"]["data"]["name"].startswith("Lamp") and row["dataOmitted"] is False
    assert row["status"] == "pending" and row["requiredScope"] == "products:read"
    # The admin: everyone's; an alias names the same export; a filter to one webhook.
    done, every = exported(admin, {"entity": "deliveries"})
    assert done["entity"] == "webhook_deliveries"
    assert len(every) == 6 and {r["webhookId"] for r in every} == {mine, theirs}
    _, one = exported(admin, {"entity": "webhook_deliveries",
                              "filters": {"webhookId": theirs}, "fields": ["id", "webhookId"]})
    assert len(one) == 3 and {r["webhookId"] for r in one} == {theirs}
    assert set(one[0]) == {"id", "webhookId"}
    # Someone else's webhook as a filter: as if it did not exist.
    assert_error(ivy.post(f"{V}/exports", {"entity": "webhook_deliveries",
                                           "filters": {"webhookId": theirs}}),
                 422, "VALIDATION_ERROR")
    # Filters: status, event, and a date range.
    _, none = exported(ivy, {"entity": "webhook_deliveries",
                             "filters": {"status": "delivered"}})
    assert none == []
    _, later = exported(ivy, {"entity": "webhook_deliveries",
                              "filters": {"from": "2999-01-01T00:00:00Z"}})
    assert later == []
    then = exported_csv_rows(ivy, {"entity": "webhook_deliveries", "filters": {
        "to": "2999-01-01T00:00:00Z", "status": ["pending"], "event": "product.created"}})
    assert len(then) == 3 and {r["webhookId"] for r in then} == {mine}


def test_deliveries_across_many_webhooks_resume_between_pages(
        admin: Api, hooks_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.exchange.exports import platform

    monkeypatch.setattr(platform, "DELIVERY_PAGE", 2)
    made = {hook(admin, f"h{i}") for i in range(3)}
    fan_out(5)
    job = start(admin, {"entity": "webhook_deliveries", "format": "ndjson"})
    assert run_jobs(Clockwork(2)) > 2  # short invocations: checkpoints between pages
    assert export_of(admin, job["id"])["status"] == "completed"
    rows = [json.loads(line) for line in fetch(admin, job["id"]).splitlines()]
    assert len(rows) == 15 and len({r["id"] for r in rows}) == 15
    assert {r["webhookId"] for r in rows} == made


def test_access_logs_scoped_to_their_owner(admin: Api) -> None:
    ivy, ivy_user = make_user(admin, "ivy", ["integrator"])
    ivy.get(f"{V}/products")
    admin.get(f"{V}/roles")
    _, rows = exported(ivy, {"entity": "access_logs"})
    assert rows and all(r["principal"].endswith(ivy_user["id"]) or r["principal"] == ""
                        for r in rows), rows
    assert "/api/v1/products" in {r["path"] for r in rows}
    assert "/api/v1/roles" not in {r["path"] for r in rows}
    assert rows == sorted(rows, key=lambda r: r["timestamp"])  # oldest first
    done, every = exported(admin, {"entity": "access_logs",
                                   "filters": {"path": "/api/v1/", "method": "get"}})
    paths = {r["path"] for r in every}
    assert {"/api/v1/products", "/api/v1/roles"} <= paths
    assert all(r["method"] == "GET" for r in every)
    # Filters as the listing's: status classes; from/to.
    _, failed = exported(admin, {"entity": "access_logs", "filters": {"status": "4xx"}})
    assert all(400 <= r["status"] < 500 for r in failed)
    _, future = exported(admin, {"entity": "api_access_logs",
                                 "filters": {"from": "2999-01-01T00:00:00Z"}})
    assert future == []
    # The data dictionary travels with it: the declared fields, typed and described.
    dictionary = json.loads(fetch(admin, done["id"], "dictionary"))
    types = {f["name"]: f["type"] for f in dictionary["fields"]}
    assert types["status"] == "integer" and types["timestamp"] == "datetime"
    assert types["query"] == "object"
    assert all(f["description"] for f in dictionary["fields"])
    assert dictionary["entity"] == "access_logs"


def test_audit_logs_scoped_to_their_owner(admin: Api) -> None:
    ivy, _ = make_user(admin, "ivy", ["integrator"])
    created = ivy.post(f"{V}/products", {"sku": "AUD-1", "name": "Audited", "price": "1.00"})
    assert created.status_code == 201, created.body
    _, zed = make_user(admin, "zed", ["viewer"])
    mine = exported_csv_rows(ivy, {"entity": "audit_logs"})
    listed = ivy.get(f"{V}/audit-logs?perPage=100").json["data"]
    # Exactly what the listing shows ivy (its own export's request included), oldest first.
    assert [r["id"] for r in mine] == [e["id"] for e in reversed(listed)]
    assert "product.create" in {r["action"] for r in mine}
    assert zed["id"] not in {r["targetId"] for r in mine}
    _, every = exported(admin, {"entity": "audit_logs",
                                "filters": {"action": "user.", "from": "2000-01-01T00:00:00Z"}})
    assert zed["id"] in {r["targetId"] for r in every}
    assert all(r["action"].startswith("user.") for r in every)


def test_fields_filters_and_rights_are_checked(admin: Api) -> None:
    for body, where in (
            ({"entity": "access_logs", "fields": ["id", "password"]}, "fields"),
            ({"entity": "audit_logs", "filters": {"owner": "usr_1"}}, "filters.owner"),
            ({"entity": "webhook_deliveries", "filters": {"status": "lost"}}, "filters.status"),
            ({"entity": "access_logs", "filters": {"status": "abc"}}, "filters.status"),
            ({"entity": "access_logs", "filters": {"status": "4xx,20"}}, "filters.status"),
            ({"entity": "access_logs", "filters": {"status": ["200", "5yy"]}},
             "filters.status"),
            ({"entity": "access_logs", "filters": {"createdAfter": "yesterday"}},
             "filters.createdAfter"),
            ({"entity": "access_logs", "filters": {"from": "2026-01-02T00:00:00Z",
                                                   "to": "2026-01-01T00:00:00Z"}},
             "filters.createdAfter"),
            ({"entity": "access_logs", "filters": {"from": "2026-01-02T00:00:00Z",
                                                   "createdAfter": "2026-01-01T00:00:00Z"}},
             "filters.from"),
            ({"entity": "payments"}, "entity")):
        err = assert_error(admin.post(f"{V}/exports", body), 422, "VALIDATION_ERROR")
        assert where in {d["field"] for d in err["details"]}, (body, err)
    err = assert_error(admin.post(f"{V}/exports", {"entity": "access_logs",
                                                   "fields": ["id", "password"]}),
                       422, "VALIDATION_ERROR")
    assert "password" in err["message"]
    err = assert_error(admin.post(f"{V}/exports", {"entity": "nope"}), 422, "VALIDATION_ERROR")
    assert "webhook_deliveries" in err["details"][0]["message"]
    # An analyst reads logs but manages no webhooks; a viewer runs no exports.
    ann, _ = make_user(admin, "ann", ["analyst"])
    assert_error(ann.post(f"{V}/exports", {"entity": "webhook_deliveries"}), 403,
                 "AUTHORIZATION_ERROR")
    assert start(ann, {"entity": "audit_logs"})["entity"] == "audit_logs"
    vic, _ = make_user(admin, "vic", ["viewer"])
    assert_error(vic.post(f"{V}/exports", {"entity": "access_logs"}), 403,
                 "AUTHORIZATION_ERROR")


def test_an_admin_export_of_everyones_logs_needs_admin_to_the_end(admin: Api) -> None:
    """An owner who loses admin while the export waits: it fails, not narrowed."""
    ada, user = make_user(admin, "ada", ["admin"])
    job = start(ada, {"entity": "access_logs"})
    assert admin.put(f"{V}/users/{user['id']}", {"roles": ["analyst"]}).status_code == 200
    run_jobs()
    failed = export_of(admin, job["id"])
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == "AUTHORIZATION_ERROR"
    assert "admin" in failed["errors"][0]["message"]


@pytest.mark.parametrize("fmt", ["xlsx", "xml"])
def test_deliveries_in_every_format(admin: Api, hooks_env: None, fmt: str) -> None:
    """Objects and arrays (payload, attempts) in a workbook and in XML."""
    import io
    from xml.etree import ElementTree

    from openpyxl import load_workbook

    hook(admin, "x")
    fan_out(2)
    job = start(admin, {"entity": "webhook_deliveries", "format": fmt})
    run_jobs()
    data = fetch(admin, job["id"])
    if fmt == "xlsx":
        book = load_workbook(io.BytesIO(data))
        rows = list(book.worksheets[0].iter_rows(values_only=True))
        header = list(rows[0])
        assert len(rows) == 3 and "payload" in header and len(book.worksheets) == 2
        assert json.loads(rows[1][header.index("payload")])["event"] == "product.created"
    else:
        root = ElementTree.fromstring(data)
        records = list(root)
        assert len(records) == 2
        assert records[0].find("event").text == "product.created"
