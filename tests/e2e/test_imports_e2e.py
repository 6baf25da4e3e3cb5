"""Imports end to end, as an integrator does them against the running local stack: a
CSV body with bad rows (dry run first), a JSON array that updates by natural key, a
larger file PUT to the presigned upload URL, the templates, the error file fetched from
the link the API answers, and bad files answered with the error envelope."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e
ENVELOPE = {"code", "message", "details", "requestId", "timestamp", "documentation"}


@pytest.fixture
def api(admin_http: httpx.Client) -> httpx.Client:
    return admin_http


def _tag() -> str:
    return str(time.time_ns())[-9:]


def finished(api: httpx.Client, import_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(f"/api/v1/imports/{import_id}/status")
        assert status.status_code == 200, status.text
        if status.json()["data"]["status"] not in ("pending", "running"):
            return dict(status.json()["data"])
        time.sleep(0.25)
    raise AssertionError(f"import {import_id} did not finish")


def started(resp: httpx.Response) -> str:
    assert resp.status_code == 202, resp.text
    assert resp.headers["Location"] == resp.json()["data"]["links"]["self"]
    return str(resp.json()["data"]["id"])


def refused(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert ENVELOPE <= set(error), error
    return dict(error)


def skus(api: httpx.Client, **match: str) -> list[str]:
    found = api.get("/api/v1/products", params={**match, "perPage": 100})
    assert found.status_code == 200, found.text
    return sorted(p["sku"] for p in found.json()["data"])


def test_a_csv_body_with_bad_rows_dry_run_then_for_real(api: httpx.Client) -> None:
    tag = _tag()
    body = (f"sku,name,price,category\r\n"
            f"I{tag}-1,Mug,9.99,imp{tag}\r\n"
            f"I{tag}-2,\"Bowl, large\nwith a line\",10,imp{tag}\r\n"
            f"I{tag}-3,Bad price,abc,imp{tag}\r\n"
            f"I{tag}-4,,5,imp{tag}\r\n"
            f"I{tag}-1,Again,1,imp{tag}\r\n")
    headers = {"Content-Type": "text/csv"}
    dry = finished(api, started(api.post("/api/v1/imports", content=body, headers=headers,
                                         params={"entity": "products", "dryRun": "true"})))
    assert dry["status"] == "completed" and dry["createdCount"] == 2
    assert skus(api, category=f"imp{tag}") == []  # a dry run writes nothing

    import_id = started(api.post("/api/v1/imports", content=body, headers=headers,
                                 params={"entity": "products"}))
    done = finished(api, import_id)
    assert (done["totalRows"], done["successCount"], done["errorCount"]) == (5, 2, 3)
    assert [(e["row"], e["field"]) for e in done["errors"]] == [
        (4, "price"), (5, "name"), (6, "sku")]
    assert skus(api, category=f"imp{tag}") == [f"I{tag}-1", f"I{tag}-2"]

    link = api.get(f"/api/v1/imports/{import_id}/errors")
    assert link.status_code == 302, link.text
    got = httpx.get(link.headers["Location"], timeout=10.0)  # S3 (moto) itself
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.text, newline="")))
    assert [(r["row"], r["field"]) for r in rows] == [("4", "price"), ("5", "name"),
                                                      ("6", "sku")]
    as_json = api.get(f"/api/v1/imports/{import_id}/errors",
                      headers={"Accept": "application/json"})
    assert set(as_json.json()["data"]) == {"downloadUrl", "expiresAt"}


def test_a_json_array_updates_by_natural_key(api: httpx.Client) -> None:
    tag = _tag()
    made = api.post("/api/v1/customers", json={"email": f"old{tag}@example.com",
                                               "name": "Old Name"})
    assert made.status_code == 201, made.text
    rows = [{"email": f"OLD{tag}@example.com", "name": "New Name"},
            {"email": f"new{tag}@example.com", "name": "Zoë"},
            {"email": "not-an-email", "name": "X"},
            {"email": f"typed{tag}@example.com", "name": 5}]
    done = finished(api, started(api.post("/api/v1/imports?entity=customers", json=rows)))
    assert (done["createdCount"], done["updatedCount"], done["errorCount"]) == (1, 1, 2)
    assert {(e["row"], e["field"]) for e in done["errors"]} == {(3, "email"), (4, "name")}
    again = api.get(f"/api/v1/customers/{made.json()['data']['id']}").json()["data"]
    assert again["name"] == "New Name"


def test_a_larger_file_through_the_presigned_upload(api: httpx.Client) -> None:
    tag = _tag()
    upload = api.post("/api/v1/imports/uploads", params={"format": "csv"})
    assert upload.status_code == 201, upload.text
    up = upload.json()["data"]
    lines = "".join(f"U{tag}-{i:04d},Upload {i},{i}.50,up{tag}\n" for i in range(60))
    put = httpx.request(up["method"], up["uploadUrl"], headers=up["headers"],
                        content=f"sku,name,price,category\n{lines}".encode(), timeout=10.0)
    assert put.status_code == 200, put.text
    done = finished(api, started(api.post("/api/v1/imports", params={
        "entity": "products", "uploadId": up["uploadId"]})))
    assert (done["status"], done["createdCount"], done["errorCount"]) == ("completed", 60, 0)

    # An uploaded file is checked by the job: a bad one fails it before any row is written.
    bad = api.post("/api/v1/imports/uploads", params={"format": "csv"}).json()["data"]
    httpx.put(bad["uploadUrl"], headers=bad["headers"], timeout=10.0,
              content=f"sku,name,colour\nB{tag},Bad,red\n".encode())
    failed = finished(api, started(api.post("/api/v1/imports", params={
        "entity": "products", "uploadId": bad["uploadId"]})))
    assert failed["status"] == "failed" and failed["failure"]["code"] == "VALIDATION_ERROR"
    assert skus(api, q=f"B{tag}") == []


def test_templates_in_csv_and_xlsx(api: httpx.Client) -> None:
    from openpyxl import load_workbook

    as_csv = api.get("/api/v1/imports/templates/products")
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    header, example = list(csv.reader(io.StringIO(as_csv.text, newline="")))
    assert header[:3] == ["sku", "name", "price"] and len(example) == len(header)
    as_xlsx = api.get("/api/v1/imports/templates/products", params={"format": "xlsx"},
                      headers={"Accept": "*/*"})
    assert as_xlsx.status_code == 200, as_xlsx.text
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == header and isinstance(values[1][2], float)


def test_bad_files_answer_the_error_envelope_and_keep_nothing(api: httpx.Client,
                                                               local_stack: Any) -> None:
    tag = _tag()
    url = "/api/v1/imports?entity=products"
    csv_type = {"Content-Type": "text/csv"}
    unknown = refused(api.post(url, headers=csv_type,
                               content=f"sku,name,colour\nK{tag},A,red\n"), 422)
    assert unknown["details"][0]["field"] == "colour"
    refused(api.post(url, headers=csv_type, content=b"sku,name,price\n\xff,1,2\n"), 422)
    refused(api.post(url, headers=csv_type, content=b""), 422)
    refused(api.post(url, headers=csv_type, content=b"sku,name,price\r\n"), 422)  # no rows
    refused(api.post(url, json=[]), 422)
    refused(api.post(url, headers={"Content-Type": "application/xml"}, content=b"<a/>"), 415)
    refused(api.post(url, headers={"Content-Type": "application/json"}, content=b"{bad"),
            400)
    refused(api.post(url, headers={"Content-Type": "application/json"}, content=b"[bad"),
            422)
    refused(api.post(url, headers=csv_type, content=b"x" * (1024 * 1024 + 1)), 413)
    refused(api.post("/api/v1/imports?entity=nothing", headers=csv_type,
                     content=b"sku\n1\n"), 422)
    refused(api.get("/api/v1/imports/imp_0000000000000000000000000a"), 404)
    assert skus(api, q=f"K{tag}") == []
    with httpx.Client(base_url=local_stack.base_url, timeout=10.0) as anonymous:
        refused(anonymous.post(url, headers=csv_type, content=b"sku\n1\n"), 401)
