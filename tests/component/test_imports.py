"""Imports through the API (chalice test client, moto): jobs run by the jobs queue's
worker as app.py's handler runs them; per-row errors, upserts by natural key, dry runs,
events, bad files, owners, scopes, uploads, templates and resumes."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import requests

from tests.component.helpers import assert_error, snapshot
from tests.component.jobs_queue import Clockwork, Died, jobs_url, record, run_jobs, sqs
from tests.component.test_resources import outbox_events
from tests.conftest import Api, make_user

V = "/api/v1"
CSV = {"Content-Type": "text/csv"}

GOOD_AND_BAD = (
    "sku,name,price,category\r\n"
    "MUG-01,Mug,12.50,kitchen\r\n"          # 2 good
    "MUG-02,Big mug,abc,kitchen\r\n"        # 3 wrong type
    "MUG-03,,4.00,\r\n"                     # 4 missing required (name)
    "MUG-01,Mug again,13.00,kitchen\r\n"    # 5 duplicate sku within the file
    "MUG-04,Cup,3.00\r\n"                   # 6 ragged row
    "PLATE-1,\"Plate, blue\",7.25,\r\n"     # 7 good (a quoted comma)
)


# -- helpers -----------------------------------------------------------------------

def start(api: Api, body: str | bytes, query: str = "entity=products",
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = api.post(f"{V}/imports?{query}", raw=body, headers=headers or CSV)
    assert resp.status_code == 202, resp.body
    data = resp.json["data"]
    assert resp.headers["Location"] == f"{V}/imports/{data['id']}"
    assert data["status"] == "pending"
    return dict(data)


def finished(api: Api, import_id: str) -> dict[str, Any]:
    run_jobs()
    resp = api.get(f"{V}/imports/{import_id}")
    assert resp.status_code == 200, resp.body
    return dict(resp.json["data"])


def products() -> dict[str, dict[str, Any]]:
    from chalicelib.resources import repo
    from chalicelib.resources.products import PRODUCTS

    out = {}
    cursor = None
    while True:
        page, cursor = repo.page(PRODUCTS, "live", by_sort2=False, cursor=cursor, limit=100,
                                 forward=True, created_between=None, keep=None)
        out.update({r["sku"]: r for r in page})
        if cursor is None:
            return out


def events_of(kind: str) -> list[dict[str, Any]]:
    return [json.loads(i["event"]) for (pk, _), i in snapshot().items()
            if pk.startswith("OUTBOX#") and json.loads(i["event"])["event"] == kind]


def error_file(api: Api, import_id: str) -> list[dict[str, str]]:
    resp = api.get(f"{V}/imports/{import_id}/errors")
    assert resp.status_code == 302, resp.body
    got = requests.get(resp.headers["Location"], timeout=10)
    assert got.status_code == 200
    return list(csv.DictReader(io.StringIO(got.content.decode("utf-8"), newline="")))


def no_rows_written(before: dict[tuple[str, str], Any]) -> None:
    after = snapshot()
    added = [k for k in after if k not in before]
    assert not [k for k in added if k[0].startswith(("PRODUCT#", "UNIQUE#"))], added
    assert not [k for k in added if k[0].startswith("OUTBOX#")
                and json.loads(after[k]["event"])["event"].startswith("product.")]


def empty_bucket() -> None:
    """The stack's teardown deletes the bucket, which must be empty by then."""
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings

    s3, bucket = aws.client("s3"), get_settings().bucket_name
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=obj["Key"])


@pytest.fixture(autouse=True)
def _empty_bucket(stack: None) -> Any:
    yield
    empty_bucket()


def a_completed_import(admin: Api) -> None:
    """One import.completed (for the event schema test), its files removed after."""
    done = finished(admin, start(admin, "sku,name,price\r\nIMP-1,Imported,1.00\r\n")["id"])
    assert done["status"] == "completed", done
    empty_bucket()


# -- rows ----------------------------------------------------------------------------

def test_good_and_bad_rows_give_exact_errors_and_only_good_rows_are_written(
        admin: Api) -> None:
    job = start(admin, GOOD_AND_BAD)
    done = finished(admin, job["id"])
    assert done["status"] == "completed", done
    assert (done["totalRows"], done["processedRows"], done["successCount"],
            done["errorCount"], done["createdCount"]) == (6, 6, 2, 4, 2)
    errors = done["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [
        (3, "price"), (4, "name"), (5, "sku"), (6, None)]
    assert "decimal" in errors[0]["message"]
    assert errors[1]["message"] == "A value is required."
    assert "row 2" in errors[2]["message"]
    assert "3 cells but the header has 4" in errors[3]["message"]
    stored = products()
    assert sorted(stored) == ["MUG-01", "PLATE-1"]
    assert stored["MUG-01"]["price"] == 1250 and stored["MUG-01"]["name"] == "Mug"
    assert stored["PLATE-1"]["name"] == "Plate, blue" and "category" not in stored["PLATE-1"]
    assert [(r["row"], r["field"]) for r in error_file(admin, job["id"])] == [
        ("3", "price"), ("4", "name"), ("5", "sku"), ("6", "")]
    status = admin.get(f"{V}/imports/{job['id']}/status").json["data"]
    assert status["successCount"] == 2 and status["errorCount"] == 4
    assert status["progress"]["percentage"] == 100.0


def test_events_are_raised_per_record_and_import_completed_once(admin: Api) -> None:
    job = start(admin, GOOD_AND_BAD)
    finished(admin, job["id"])
    created = events_of("product.created")
    assert sorted(e["data"]["sku"] for e in created) == ["MUG-01", "PLATE-1"]
    [completed] = events_of("import.completed")
    assert completed["data"]["importId"] == job["id"]
    assert (completed["data"]["successCount"], completed["data"]["errorCount"]) == (2, 4)


def test_a_second_import_of_the_same_file_updates_without_duplicates(admin: Api) -> None:
    finished(admin, start(admin, GOOD_AND_BAD)["id"])
    first = products()
    changed = GOOD_AND_BAD.replace("MUG-01,Mug,12.50", "mug-01,Mug,14.00")
    again = finished(admin, start(admin, changed)["id"])
    assert (again["createdCount"], again["updatedCount"], again["errorCount"]) == (0, 2, 4)
    second = products()
    # the sku matched case-insensitively, and takes the file's spelling, as a PUT would
    assert sorted(second) == ["PLATE-1", "mug-01"]
    assert second["mug-01"]["id"] == first["MUG-01"]["id"]
    assert second["mug-01"]["price"] == 1400
    # PLATE-1 is matched (counted as updated) but unchanged: nothing written, no event
    assert [e["data"]["sku"] for e in events_of("product.updated")] == ["mug-01"]
    assert second["PLATE-1"]["updatedAt"] == first["PLATE-1"]["updatedAt"]


def test_dry_run_checks_everything_and_writes_nothing(admin: Api) -> None:
    before = snapshot()
    done = finished(admin, start(admin, GOOD_AND_BAD, "entity=products&dryRun=true")["id"])
    assert done["dryRun"] is True and done["status"] == "completed"
    assert (done["successCount"], done["errorCount"]) == (2, 4)
    assert products() == {}
    no_rows_written(before)


def test_a_json_array_body_with_the_contract_example(admin: Api) -> None:
    body = [{"sku": "MUG-01", "name": "Mug", "price": "12.50", "category": "kitchen"},
            {"sku": "MUG-02", "name": "Cup", "price": "3"},
            {"sku": "MUG-03", "name": "Bowl", "price": 2.5, "colour": "red"}]
    job = start(admin, json.dumps(body), headers={"Content-Type": "application/json"})
    done = finished(admin, job["id"])
    assert (done["successCount"], done["errorCount"]) == (2, 1)
    assert done["errors"][0]["row"] == 3 and done["errors"][0]["field"] == "colour"
    assert products()["MUG-02"]["price"] == 300


def test_customers_upsert_by_email(admin: Api) -> None:
    body = "email,name,phone\r\nada@example.com,Ada,\r\nbob@example.com,Bob,+44 20 7946 0000\r\n"
    done = finished(admin, start(admin, body, "entity=customers")["id"])
    assert done["createdCount"] == 2, done
    again = "email,name\r\nADA@example.com,Ada Lovelace\r\n"
    done = finished(admin, start(admin, again, "entity=customers")["id"])
    assert (done["createdCount"], done["updatedCount"]) == (0, 1)
    listed = admin.get(f"{V}/customers?q=ada").json["data"]
    assert [c["name"] for c in listed] == ["Ada Lovelace"]


# -- files -----------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "named"), [
    (b"sku,name,price\r\nMUG-01,Caf\xe9,1.00\r\n", "not UTF-8"),
    (b"sku,name,price,colour\r\nMUG-01,Mug,1.00,red\r\n", "colour"),
    (b"sku,price\r\nMUG-01,1.00\r\n", "name"),
    (b"", "empty"),
])
def test_a_bad_body_answers_422_at_once_and_changes_nothing(admin: Api, body: bytes,
                                                              named: str) -> None:
    before = snapshot()
    err = assert_error(admin.post(f"{V}/imports?entity=products", raw=body, headers=CSV),
                       422, "VALIDATION_ERROR")
    assert named in json.dumps(err["details"]) + err["message"]
    assert [k for k in snapshot() if k not in before and k[0].startswith("JOB#")] == []
    no_rows_written(before)


def upload(api: Api, data: bytes, fmt: str = "csv") -> str:
    resp = api.post(f"{V}/imports/uploads?format={fmt}")
    assert resp.status_code == 201, resp.body
    got = resp.json["data"]
    assert got["uploadId"].startswith("upl_") and got["expiresAt"]
    put = requests.put(got["uploadUrl"], data=data, headers=got["headers"], timeout=10)
    assert put.status_code == 200, put.text
    return str(got["uploadId"])


def test_an_uploaded_file_is_imported(admin: Api) -> None:
    upload_id = upload(admin, GOOD_AND_BAD.encode())
    done = finished(admin, start(admin, b"", f"entity=products&uploadId={upload_id}")["id"])
    assert (done["status"], done["successCount"], done["errorCount"]) == ("completed", 2, 4)
    other, _ = make_user(admin, "carol", ["integrator"])
    assert_error(other.post(f"{V}/imports?entity=products&uploadId={upload_id}", raw=b"",
                            headers=CSV), 422, "VALIDATION_ERROR")


def test_a_bad_uploaded_file_fails_the_job_before_any_row(admin: Api) -> None:
    before = snapshot()
    upload_id = upload(admin, b"sku,name,price,colour\r\nMUG-01,Mug,1.00,red\r\n")
    job = start(admin, b"", f"entity=products&uploadId={upload_id}")
    done = finished(admin, job["id"])
    assert done["status"] == "failed" and done["failure"]["code"] == "VALIDATION_ERROR"
    assert [(e["row"], e["field"]) for e in done["errors"]] == [(1, "colour")]
    assert [r["field"] for r in error_file(admin, job["id"])] == ["colour"]
    no_rows_written(before)


def test_templates_in_csv_and_xlsx(admin: Api) -> None:
    from openpyxl import load_workbook

    def fetch(path: str) -> Any:  # not JSON: past the Api helper's parsing
        return admin.client.http.request("GET", path, body=b"",
                                         headers={**admin.headers, "Accept": "*/*"})

    resp = fetch(f"{V}/imports/templates/products")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    text = resp.body.decode("utf-8")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["sku", "name", "price", "category", "description"]
    assert lines[1][:3] == ["MUG-01", "Mug", "12.50"]
    job = start(admin, text)  # the template imports as it is
    assert finished(admin, job["id"])["successCount"] == 1
    resp = fetch(f"{V}/imports/templates/products?format=xlsx")
    assert resp.status_code == 200, resp.body
    sheet = load_workbook(io.BytesIO(resp.body)).worksheets[0]
    cells = list(sheet.iter_rows(values_only=True))
    assert list(cells[0]) == ["sku", "name", "price", "category", "description"]
    assert cells[1][0] == "MUG-01"
    assert_error(admin.get(f"{V}/imports/templates/widgets"), 422, "VALIDATION_ERROR")


# -- owners, scopes, resumes -----------------------------------------------------------

def test_other_owners_get_404(admin: Api) -> None:
    alice, _ = make_user(admin, "alice", ["integrator"])
    bob, _ = make_user(admin, "bob", ["integrator"])
    job = start(alice, GOOD_AND_BAD)
    run_jobs()
    for path in ("", "/status", "/errors"):
        assert_error(bob.get(f"{V}/imports/{job['id']}{path}"), 404, "NOT_FOUND")
    assert_error(bob.delete(f"{V}/imports/{job['id']}"), 404, "NOT_FOUND")
    assert bob.get(f"{V}/imports").json["data"] == []
    assert [i["id"] for i in alice.get(f"{V}/imports").json["data"]] == [job["id"]]
    assert admin.get(f"{V}/imports/{job['id']}").status_code == 200


def test_scopes_imports_run_and_the_entity_write_scope(admin: Api) -> None:
    def key(scopes: list[str]) -> Api:
        resp = admin.post(f"{V}/api-keys", {"name": "k", "scopes": scopes})
        assert resp.status_code == 201, resp.body
        return admin.as_key(resp.json["data"]["key"])

    writer = key(["products:write", "products:read"])
    assert_error(writer.post(f"{V}/imports?entity=products", raw=GOOD_AND_BAD, headers=CSV),
                 403, "AUTHORIZATION_ERROR")
    importer = key(["imports:run", "products:write"])
    err = assert_error(importer.post(f"{V}/imports?entity=customers", raw="email,name\r\n"
                                     "a@b.co,A\r\n", headers=CSV), 403, "AUTHORIZATION_ERROR")
    assert "customers:write" in err["message"]
    assert importer.post(f"{V}/imports?entity=products", raw=GOOD_AND_BAD,
                         headers=CSV).status_code == 202


def test_cancel_stops_between_chunks(admin: Api, monkeypatch: Any) -> None:
    from chalicelib.exchange.imports import kind

    monkeypatch.setattr(kind, "CHUNK_ROWS", 10)
    body = "sku,name,price\r\n" + "".join(f"S-{i:04d},P {i},1.00\r\n" for i in range(100))
    job = start(admin, body)
    run_jobs(Clockwork(3), limit=1)  # the scan and two chunks, then a continuation
    cancelled = admin.delete(f"{V}/imports/{job['id']}").json["data"]
    assert cancelled["status"] == "cancelled"
    run_jobs()
    assert len(products()) == 20
    assert_error(admin.get(f"{V}/imports/{job['id']}/errors"), 409, "CONFLICT")


@pytest.mark.parametrize("entity", ["products", "tickets"])
def test_a_worker_that_dies_mid_chunk_resumes_without_duplicates(
        admin: Api, monkeypatch: Any, entity: str) -> None:
    from chalicelib.core import clock
    from chalicelib.exchange.imports import kind
    from chalicelib.jobs import repo as jobs_repo
    from chalicelib.jobs import worker
    from chalicelib.resources import service

    monkeypatch.setattr(kind, "CHUNK_ROWS", 10)
    if entity == "products":
        body = "sku,name,price\r\n" + "".join(f"S-{i:04d},P {i},1.00\r\n" for i in range(35))
    else:
        body = "subject,description\r\n" + "".join(f"T {i},Broken {i}\r\n" for i in range(35))
    job = start(admin, body, f"entity={entity}")
    real, calls = service.create_many, []

    def create_then_die(res: Any, actor: Any, prepared: list[Any]) -> None:
        calls.append(len(prepared))
        real(res, actor, prepared)
        if len(calls) == 2:
            raise Died  # rows 1-20 written; the checkpoint says 10

    monkeypatch.setattr(service, "create_many", create_then_die)
    msg = sqs().receive_message(QueueUrl=jobs_url(), WaitTimeSeconds=0)["Messages"][0]
    with pytest.raises(Died):
        worker.process_batch({"Records": [record(msg)]})
    dead = jobs_repo.get(job["id"])
    assert dead is not None and dead.processed_rows == 10
    assert dead.lease_until is not None
    clock.advance(dead.lease_until - clock.now() + 1)
    sqs().change_message_visibility(QueueUrl=jobs_url(), ReceiptHandle=msg["ReceiptHandle"],
                                    VisibilityTimeout=0)
    done = finished(admin, job["id"])
    assert (done["status"], done["successCount"], done["errorCount"]) == ("completed", 35, 0)
    # The redone rows count as created (their ids say this import made them), not updated.
    assert (done["createdCount"], done["updatedCount"]) == (35, 0)
    listed = admin.get(f"{V}/{entity}?perPage=100").json["data"]
    assert len(listed) == 35
    # Rows 11-20, written before the death, were neither created again nor "updated":
    # one event each, no more.
    assert calls == [10, 10, 10, 5]
    singular = entity[:-1]
    events = [e["event"] for e in outbox_events()]
    assert events.count(f"{singular}.created") == 35
    assert f"{singular}.updated" not in events


def test_orders_of_one_customer_go_in_separate_transactions(admin: Api) -> None:
    """Each order checks its customer: two in one transaction would be two operations on
    one item, which DynamoDB refuses outright (not a condition: no retry could help)."""
    customer = admin.post(f"{V}/customers", {"email": "a@ex.com", "name": "A"}).json["data"]
    made = admin.post(f"{V}/products", {"sku": "S1", "name": "P", "price": "1.00"}).json["data"]
    rows = [{"customerId": customer["id"], "items": [
        {"productId": made["id"], "quantity": 1, "price": "1.00"}],
        "shippingAddress": {"street": "1", "city": "c", "state": "s", "zip": "1"}}] * 3
    job = start(admin, json.dumps(rows), "entity=orders", {"Content-Type": "application/json"})
    done = finished(admin, job["id"])
    assert (done["status"], done["successCount"], done["errorCount"]) == ("completed", 3, 0)
    assert len(admin.get(f"{V}/orders").json["data"]) == 3
    assert len(events_of("order.created")) == 3
