"""Exports through the API (chalice test client, moto): jobs run by the jobs queue's
worker as app.py's handler runs them, files read back from S3 through their download
links (a GET that moto answers in-process), checkpoints, resumes, cancels, owners,
scopes and the sandbox."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import pytest
import requests

from tests.component.helpers import assert_error, snapshot
from tests.component.jobs_queue import Clockwork, Died, jobs_url, record, run_jobs, sqs
from tests.conftest import Api, make_user

V = "/api/v1"


# -- helpers -----------------------------------------------------------------------

def seed_products(n: int, ns: str = "live", description: str = "",
                  category: str = "kitchen", noisy: bool = False) -> list[dict[str, Any]]:
    """n products written straight to the table as the service writes them (their
    createdAt one millisecond apart, so their order is known); `noisy`: descriptions
    that compress about as little as real text."""
    import hashlib

    from chalicelib.core import clock
    from chalicelib.resources import repo
    from chalicelib.resources.products import PRODUCTS
    from chalicelib.store import table as store

    base = clock.now() - 3600
    records = []
    with store.table().batch_writer() as batch:
        for i in range(n):
            stamp = clock.iso(base + i / 1000)
            record = {"id": f"prd_{ns[:2]}{i:06d}", "sku": f"{ns.upper()}-{i:06d}",
                      "name": f"Product {i}", "price": 100 + i,
                      "category": category if i % 2 == 0 else "garden",
                      "createdAt": stamp, "updatedAt": stamp}
            if noisy:
                record["description"] = hashlib.sha256(str(i).encode()).hexdigest()
            elif description:
                record["description"] = description
            _, op = repo.create_op(PRODUCTS, ns, record)
            batch.put_item(Item=op["Put"]["Item"])
            records.append(record)
    return records


def start(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post(f"{V}/exports", body)
    assert resp.status_code == 202, resp.body
    assert resp.headers["Location"] == f"{V}/exports/{resp.json['data']['id']}"
    assert resp.json["data"]["status"] == "pending"
    return dict(resp.json["data"])


def export_of(api: Api, export_id: str) -> dict[str, Any]:
    resp = api.get(f"{V}/exports/{export_id}")
    assert resp.status_code == 200, resp.body
    return dict(resp.json["data"])


def fetch(api: Api, export_id: str, what: str = "download") -> bytes:
    """The file through its link: the 302's Location, fetched."""
    resp = api.get(f"{V}/exports/{export_id}/{what}")
    assert resp.status_code == 302, resp.body
    got = requests.get(resp.headers["Location"], timeout=10)
    assert got.status_code == 200
    return got.content


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def job_item(export_id: str) -> Any:
    from chalicelib.jobs import repo

    return repo.get(export_id)


def objects(export_id: str) -> list[str]:
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings

    listed = aws.client("s3").list_objects_v2(Bucket=get_settings().bucket_name,
                                              Prefix=f"exports/{export_id}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def uploads(export_id: str) -> list[str]:
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings

    listed = aws.client("s3").list_multipart_uploads(Bucket=get_settings().bucket_name,
                                                     Prefix=f"exports/{export_id}/")
    return [u["UploadId"] for u in listed.get("Uploads", [])]


def events_of(kind: str) -> list[dict[str, Any]]:
    return [json.loads(i["event"]) for (pk, _), i in snapshot().items()
            if pk.startswith("OUTBOX#") and json.loads(i["event"])["event"] == kind]


@pytest.fixture(autouse=True)
def _empty_bucket(stack: None) -> Any:
    """The stack's teardown deletes the bucket, which must be empty by then (as in
    CloudFormation)."""
    yield
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings

    s3, bucket = aws.client("s3"), get_settings().bucket_name
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])


@pytest.fixture
def small_parts(monkeypatch: Any) -> None:
    """Parts of 4 KiB and pages of 20 rows (S3's 5 MiB minimum lowered in moto alike), so
    that a few hundred rows make many parts and checkpoints."""
    import moto.s3.models

    from chalicelib.exchange.exports import sources, storage

    monkeypatch.setattr(storage, "PART_BYTES", 4096)
    monkeypatch.setattr(sources, "PAGE_ROWS", 20)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 4096)


# -- files -------------------------------------------------------------------------

def test_csv_export_of_products_read_back_through_its_link(admin: Api) -> None:
    seeded = seed_products(300)
    job = start(admin, {"entity": "products", "format": "csv", "options": {"bom": True}})
    assert job["links"]["status"] == f"{V}/exports/{job['id']}/status"
    assert_error(admin.get(f"{V}/exports/{job['id']}/download"), 409, "CONFLICT")
    assert run_jobs() == 1
    done = export_of(admin, job["id"])
    assert done["status"] == "completed", done
    assert done["rows"] == 300 and done["progress"] == {
        "processedRows": 300, "totalRows": 300, "percentage": 100.0}
    assert done["startedAt"] and done["finishedAt"] and done["createdBy"].startswith("client:")
    data = fetch(admin, job["id"])
    assert data.startswith(b"\xef\xbb\xbf") and len(data) == done["bytes"]
    rows = csv_rows(data)
    assert [r["id"] for r in rows] == [p["id"] for p in seeded]  # oldest first, each once
    assert list(rows[0]) == ["id", "sku", "name", "price", "category", "description",
                             "createdAt", "updatedAt"]
    assert rows[1]["price"] == "1.01" and rows[1]["category"] == "garden"
    assert rows[0]["description"] == ""
    # the JSON form of the link, and the data dictionary beside the file
    link = admin.get(f"{V}/exports/{job['id']}/download",
                     headers={"Accept": "application/json"})
    assert link.status_code == 200 and set(link.json["data"]) == {"downloadUrl", "expiresAt"}
    assert link.headers["Cache-Control"] == "no-store"
    dictionary = json.loads(fetch(admin, job["id"], "dictionary"))
    types = {f["name"]: f["type"] for f in dictionary["fields"]}
    assert types["price"] == "number" and types["createdAt"] == "datetime"
    assert dictionary["rows"] == 300 and dictionary["entity"] == "products"
    # the owner's webhooks hear of it
    [event] = events_of("export.completed")
    assert event["owner"] and event["data"]["exportId"] == job["id"]
    assert event["data"]["rows"] == 300 and event["data"]["bytes"] == done["bytes"]


def test_xlsx_export_has_typed_cells_and_its_dictionary_sheet(admin: Api) -> None:
    from openpyxl import load_workbook

    seed_products(40)
    job = start(admin, {"entity": "products", "format": "xlsx",
                        "fields": ["sku", "price", "createdAt"],
                        "filters": {"category": ["kitchen"], "priceMin": "1.10"}})
    run_jobs()
    book = load_workbook(io.BytesIO(fetch(admin, job["id"])))
    sheet, dictionary = book.worksheets
    assert sheet.title == "products" and dictionary.title == "Data dictionary"
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("sku", "price", "createdAt")
    # kitchen (even i) and price >= 1.10 (i >= 10): i = 10, 12, ... 38
    assert [r[0] for r in rows[1:]] == [f"LIVE-{i:06d}" for i in range(10, 40, 2)]
    assert rows[1][1] == 1.1 and rows[1][2].year >= 2024  # a number and a datetime
    described = list(dictionary.iter_rows(values_only=True))
    assert described[0] == ("field", "type", "description", "example")
    assert [d[:2] for d in described[1:]] == [("sku", "string"), ("price", "number"),
                                             ("createdAt", "datetime")]


@pytest.mark.parametrize("fmt", ["json", "ndjson", "xml"])
def test_json_ndjson_and_xml_hold_the_rows(admin: Api, fmt: str) -> None:
    import xml.etree.ElementTree as ET  # noqa: N817

    seeded = seed_products(25)
    job = start(admin, {"entity": "products", "format": fmt, "fields": ["id", "price"]})
    run_jobs()
    data = fetch(admin, job["id"]).decode()
    if fmt == "json":
        got = [(r["id"], r["price"]) for r in json.loads(data)]
    elif fmt == "ndjson":
        got = [(r["id"], r["price"]) for r in map(json.loads, data.splitlines())]
    else:
        root = ET.fromstring(data)
        assert root.tag == "products"
        got = [(r.findtext("id"), float(r.findtext("price") or 0)) for r in root]
    assert got == [(p["id"], p["price"] / 100) for p in seeded]


def test_parts_are_five_mib_by_default(admin: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the test's small parts: an export over 5 MiB goes up as a multipart
    upload whose parts (but the last) are at least S3's 5 MiB."""
    from chalicelib.exchange.exports import sources, storage

    # Pages of 1,000 (not 2,500) keep the seed small: 1,100 rows of 5.3 kB, the first
    # page fills a part, the last is small. A file that fits one page is one plain PUT.
    monkeypatch.setattr(sources, "PAGE_ROWS", 1000)
    seed_products(1100, description="d" * 5200)
    job = start(admin, {"entity": "products", "format": "csv"})
    run_jobs()
    done = export_of(admin, job["id"])
    assert done["status"] == "completed", done
    item = job_item(job["id"])
    assert item.result["parts"] == 2 and done["bytes"] > storage.PART_BYTES
    rows = csv_rows(fetch(admin, job["id"]))
    assert len(rows) == 1100 and len({r["id"] for r in rows}) == 1100


# -- checkpoints and resumes -------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_interrupted_export_resumes_without_duplicated_rows(admin: Api, small_parts: None,
                                                            fmt: str) -> None:
    from openpyxl import load_workbook

    seed_products(300, noisy=True)
    straight = start(admin, {"entity": "products", "format": fmt})
    run_jobs()
    job = start(admin, {"entity": "products", "format": fmt})
    # the first invocation runs out of time after 6 pages: a continuation follows
    assert run_jobs(Clockwork(6), limit=1) == 1
    halfway = job_item(job["id"])
    assert halfway.status == "running" and halfway.lease_id is None and halfway.seq == 1
    assert 0 < halfway.processed_rows < 300 and halfway.checkpoint["cursor"]
    invocations = run_jobs(Clockwork(4))  # more short invocations until it is done
    assert invocations > 1
    assert export_of(admin, job["id"])["status"] == "completed"
    assert job_item(job["id"]).result["parts"] > 1
    assert sorted(objects(job["id"])) == sorted([  # no carry-over left
        f"exports/{job['id']}/products.{fmt}", f"exports/{job['id']}/products.dictionary.json"])
    first, second = fetch(admin, straight["id"]), fetch(admin, job["id"])
    if fmt == "csv":
        assert second == first  # byte for byte: nothing repeated, nothing lost
        assert len(csv_rows(second)) == 300
    else:
        def cells(data: bytes) -> list[Any]:
            return list(load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(
                values_only=True))
        assert cells(second) == cells(first) and len(cells(second)) == 301


def test_a_worker_that_dies_mid_part_resumes_from_its_last_checkpoint(
        admin: Api, small_parts: None, monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from chalicelib.exchange.exports import storage
    from chalicelib.jobs import worker

    seed_products(300, noisy=True)
    straight = start(admin, {"entity": "products", "format": "csv"})
    run_jobs()
    job = start(admin, {"entity": "products", "format": "csv"})
    real, calls = storage.upload_part, []

    def upload_then_die(key: str, upload_id: str, number: int, data: bytes) -> bool:
        calls.append(number)
        done = real(key, upload_id, number, data)
        if number == 3 and calls.count(3) == 1:
            raise Died  # part 3 is in S3, its checkpoint never written
        return done

    monkeypatch.setattr(storage, "upload_part", upload_then_die)
    msg = sqs().receive_message(QueueUrl=jobs_url(), WaitTimeSeconds=0)["Messages"][0]
    with pytest.raises(Died):
        worker.process_batch({"Records": [record(msg)]})
    dead = job_item(job["id"])
    assert dead.status == "running" and dead.checkpoint["parts"] == 2 and dead.lease_id
    # the message comes back after its visibility timeout; while the lease lasts it
    # waits, once it ran out the job resumes
    sqs().change_message_visibility(QueueUrl=jobs_url(), ReceiptHandle=msg["ReceiptHandle"],
                                    VisibilityTimeout=0)
    assert run_jobs(limit=1) == 1 and job_item(job["id"]).status == "running"
    clock.advance(dead.lease_until - clock.now() + 1)
    sqs().change_message_visibility(QueueUrl=jobs_url(), ReceiptHandle=msg["ReceiptHandle"],
                                    VisibilityTimeout=0)
    run_jobs()
    assert export_of(admin, job["id"])["status"] == "completed"
    assert calls.count(3) == 2  # part 3 uploaded again (replacing itself), once more
    assert fetch(admin, job["id"]) == fetch(admin, straight["id"])


def test_a_duplicate_message_does_nothing(admin: Api) -> None:
    seed_products(10)
    job = start(admin, {"entity": "products", "format": "csv"})
    from chalicelib.jobs import queue

    queue.send(job["id"], 0)  # SQS delivers at least once
    assert run_jobs() == 2
    item = job_item(job["id"])
    assert item.status == "completed" and item.seq == 0
    assert len(events_of("export.completed")) == 1


# -- cancel and delete -------------------------------------------------------------

def test_cancel_between_invocations_removes_the_partial_output(admin: Api,
                                                                small_parts: None) -> None:
    seed_products(300, noisy=True)
    job = start(admin, {"entity": "products", "format": "csv"})
    run_jobs(Clockwork(7), limit=1)  # seven pages: three parts and a carry-over
    assert job_item(job["id"]).checkpoint["carry"]
    assert uploads(job["id"]) and objects(job["id"])  # parts in S3 and a carry-over
    resp = admin.delete(f"{V}/exports/{job['id']}")
    assert resp.status_code == 200 and resp.json["data"]["status"] == "cancelled"
    assert uploads(job["id"]) == [] and objects(job["id"]) == []
    run_jobs()  # the continuation finds it cancelled
    item = job_item(job["id"])
    assert item.status == "cancelled" and not item.cleanup and item.lease_id is None
    assert objects(job["id"]) == [] and not events_of("export.completed")
    assert_error(admin.get(f"{V}/exports/{job['id']}/download"), 409, "CONFLICT")


def test_cancel_while_running_stops_between_pages(admin: Api, small_parts: None,
                                                  monkeypatch: Any) -> None:
    from chalicelib.exchange.exports import sources

    seed_products(300, noisy=True)
    job = start(admin, {"entity": "products", "format": "csv"})
    real, pages = sources.ResourceSource.page, []

    def page_then_cancel(self: Any, cursor: str | None) -> Any:
        pages.append(cursor)
        if len(pages) == 8:  # parts uploaded by now; the owner cancels
            resp = admin.delete(f"{V}/exports/{job['id']}")
            assert resp.json["data"]["status"] == "cancelled"
        return real(self, cursor)

    monkeypatch.setattr(sources.ResourceSource, "page", page_then_cancel)
    run_jobs()
    item = job_item(job["id"])
    assert len(pages) == 8  # the page read as it was cancelled was the last
    assert item.status == "cancelled" and not item.cleanup and item.processed_rows < 300
    assert uploads(job["id"]) == [] and objects(job["id"]) == []


def test_deleting_a_completed_export_removes_its_files_and_keeps_its_history(
        admin: Api) -> None:
    seed_products(5)
    job = start(admin, {"entity": "products", "format": "json"})
    run_jobs()
    assert len(objects(job["id"])) == 2
    resp = admin.delete(f"{V}/exports/{job['id']}")
    assert resp.status_code == 200 and resp.json["data"]["status"] == "completed"
    assert resp.json["data"]["result"]["filesDeletedAt"]
    assert objects(job["id"]) == []
    assert_error(admin.get(f"{V}/exports/{job['id']}/download"), 409, "CONFLICT")
    listed = admin.get(f"{V}/exports").json["data"]
    assert [e["id"] for e in listed] == [job["id"]]


# -- who sees what -----------------------------------------------------------------

def test_another_owner_gets_404_and_an_admin_sees_all(admin: Api) -> None:
    seed_products(3)
    alice, _ = make_user(admin, "alice", ["analyst"])
    bob, _ = make_user(admin, "bob", ["integrator"])
    job = start(alice, {"entity": "products", "format": "csv"})
    run_jobs()
    for path in ("", "/status", "/download", "/dictionary"):
        assert_error(bob.get(f"{V}/exports/{job['id']}{path}"), 404, "NOT_FOUND")
    assert_error(bob.delete(f"{V}/exports/{job['id']}"), 404, "NOT_FOUND")
    assert bob.get(f"{V}/exports").json["data"] == []
    mine = alice.get(f"{V}/exports").json["data"]
    assert [e["id"] for e in mine] == [job["id"]] and mine[0]["rows"] == 3
    assert [e["id"] for e in admin.get(f"{V}/exports").json["data"]] == [job["id"]]
    assert admin.get(f"{V}/exports/{job['id']}/status").json["data"]["status"] == "completed"
    assert fetch(alice, job["id"]).count(b"\r\n") == 4


def test_scopes_exports_run_and_the_entity_read_scope(admin: Api) -> None:
    def key(scopes: list[str]) -> Api:
        resp = admin.post(f"{V}/api-keys", {"name": "k", "scopes": scopes})
        assert resp.status_code == 201, resp.body
        return admin.as_key(resp.json["data"]["key"])

    reader = key(["products:read"])
    assert_error(reader.post(f"{V}/exports", {"entity": "products"}), 403,
                 "AUTHORIZATION_ERROR")
    assert_error(reader.get(f"{V}/exports"), 403, "AUTHORIZATION_ERROR")
    exporter = key(["exports:run", "products:read"])
    err = assert_error(exporter.post(f"{V}/exports", {"entity": "orders"}), 403,
                       "AUTHORIZATION_ERROR")
    assert "orders:read" in err["message"]
    assert exporter.post(f"{V}/exports", {"entity": "products"}).status_code == 202


@pytest.mark.parametrize(("body", "named"), [
    ({"entity": "products", "fields": ["id", "colour"]}, "colour"),
    ({"entity": "products", "filters": {"colour": "red"}}, "colour"),
    ({"entity": "widgets"}, "entity"),
    ({"entity": "products", "format": "pdf"}, "format"),
    ({"entity": "products", "filters": {"priceMin": "9", "priceMax": "1"}}, "priceMin"),
])
def test_bad_requests_answer_422_naming_the_field_and_write_nothing(
        admin: Api, body: dict[str, Any], named: str) -> None:
    before = snapshot()
    err = assert_error(admin.post(f"{V}/exports", body), 422, "VALIDATION_ERROR")
    assert named in json.dumps(err["details"]) + err["message"]
    assert [k for k in snapshot() if k not in before and k[0].startswith("JOB#")] == []


def test_an_owner_who_loses_a_read_scope_sees_the_export_fail(admin: Api) -> None:
    seed_products(5)
    ann, user = make_user(admin, "ann", ["analyst"])
    job = start(ann, {"entity": "products", "format": "csv"})
    assert admin.put(f"{V}/users/{user['id']}", {"roles": ["viewer"]}).status_code == 200
    run_jobs()
    failed = export_of(admin, job["id"])
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == "AUTHORIZATION_ERROR"
    assert "exports:run" in failed["errors"][0]["message"]
    assert objects(job["id"]) == []
    [event] = events_of("export.failed")
    assert event["owner"] == user["id"] and event["data"]["error"]["code"] == "AUTHORIZATION_ERROR"


def test_an_export_started_by_a_key_fails_once_the_key_is_revoked(admin: Api) -> None:
    """Its owner (the admin) still holds every right; the key that started it does not
    stand any more, and what a credential set up ends with it."""
    seed_products(3)
    made = admin.post(f"{V}/api-keys", {"name": "k", "scopes": ["exports:run",
                                                                "products:read"]})
    assert made.status_code == 201, made.body
    job = start(admin.as_key(made.json["data"]["key"]), {"entity": "products",
                                                         "format": "csv"})
    assert admin.delete(f"{V}/api-keys/{made.json['data']['id']}").status_code == 204
    run_jobs()
    failed = export_of(admin, job["id"])
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == "AUTHORIZATION_ERROR"
    assert "revoked" in failed["errors"][0]["message"] and objects(job["id"]) == []


def test_a_sandbox_key_exports_sandbox_data_only(admin: Api) -> None:
    seed_products(4, ns="live")
    seeded = seed_products(3, ns="sandbox")
    resp = admin.post(f"{V}/api-keys", {"name": "sb", "scopes": ["exports:run",
                                                                 "products:read"],
                                        "sandbox": True})
    sandbox = admin.as_key(resp.json["data"]["key"])
    live_job = start(admin, {"entity": "products", "format": "csv"})
    job = start(sandbox, {"entity": "products", "format": "csv"})
    assert job["sandbox"] is True
    run_jobs()
    rows = csv_rows(fetch(sandbox, job["id"]))
    assert [r["id"] for r in rows] == [p["id"] for p in seeded]
    assert len(csv_rows(fetch(admin, live_job["id"]))) == 4
    assert [e["id"] for e in sandbox.get(f"{V}/exports").json["data"]] == [job["id"]]
    assert_error(sandbox.get(f"{V}/exports/{live_job['id']}"), 404, "NOT_FOUND")
    [completed] = [e for e in events_of("export.completed")
                   if e["data"]["exportId"] == job["id"]]
    assert completed["sandbox"] is True


def test_an_order_export_says_what_the_api_says(admin: Api) -> None:
    """Nested values (an order's lines and address) as the API answers them; money at
    the top as numbers, in the dictionary too."""
    from tests.component.test_resources import customer, order, product

    prd = product(admin, "ORD-EXP", price="14.00")
    answer = order(admin, customer(admin), [{"productId": prd["id"], "quantity": 2,
                                             "price": "14.00"}])
    job = start(admin, {"entity": "orders", "format": "json"})
    run_jobs()
    [row] = json.loads(fetch(admin, job["id"]))
    money = {"subtotal", "total", "amountPaid"}
    assert {k: v for k, v in row.items() if k not in money and v is not None} == {
        k: v for k, v in answer.items() if k not in money}
    assert row["items"][0]["price"] == "14.00" and row["total"] == float(answer["total"])
    types = {f["name"]: f["type"] for f in json.loads(fetch(admin, job["id"], "dictionary"))[
        "fields"]}
    assert types["items"] == "array" and types["shippingAddress"] == "object"
    assert types["total"] == "number" and types["itemCount"] == "integer"


def test_money_stays_exact(admin: Api) -> None:
    from chalicelib.exchange.exports.sources import ResourceSource
    from chalicelib.resources.products import PRODUCTS

    seed_products(2)
    rows, _ = ResourceSource(PRODUCTS, "live", ["price"], None).page(None)
    assert rows == [{"price": Decimal("1.00")}, {"price": Decimal("1.01")}]


def completed_and_failed_exports(admin: Api) -> None:
    """One export.completed and one export.failed (for the event schema test); the
    files deleted after (the stack's teardown needs the bucket empty)."""
    seed_products(2)
    done = start(admin, {"entity": "products", "format": "csv"})
    quitter, user = make_user(admin, "quitter", ["analyst"])
    start(quitter, {"entity": "products", "format": "csv"})
    assert admin.put(f"{V}/users/{user['id']}", {"roles": ["viewer"]}).status_code == 200
    run_jobs()
    assert admin.delete(f"{V}/exports/{done['id']}").status_code == 200
    assert objects(done["id"]) == []
