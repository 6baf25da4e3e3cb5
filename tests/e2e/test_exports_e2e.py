"""Exports end to end: the running local stack (API, moto, the poller running the jobs
queue's handler) and the file fetched over real HTTP from the presigned URL the
download answers."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(admin_http: httpx.Client) -> httpx.Client:
    return admin_http


def finished(api: httpx.Client, export_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(f"/api/v2/exports/{export_id}/status").json()["data"]
        if status["status"] not in ("pending", "running"):
            return dict(status)
        time.sleep(0.2)
    raise AssertionError(f"export {export_id} did not finish")


def download(api: httpx.Client, export_id: str) -> httpx.Response:
    link = api.get(f"/api/v2/exports/{export_id}/download")
    assert link.status_code == 302, link.text
    return httpx.get(link.headers["Location"], timeout=10.0)  # S3 (moto) itself


def test_exports_run_on_the_local_stack_and_download_over_http(api: httpx.Client) -> None:
    from openpyxl import load_workbook

    tag = str(time.time_ns())[-8:]
    skus = [f"E2E-{tag}-{i:03d}" for i in range(40)]
    for i, sku in enumerate(skus):
        made = api.post("/api/v2/products", json={
            "sku": sku, "name": f"=cmd|' /C calc'!A0 {i}", "price": f"{i}.25",
            "category": f"e2e{tag}"})
        assert made.status_code == 201, made.text
    filters = {"category": f"e2e{tag}"}
    csv_job = api.post("/api/v2/exports", json={
        "entity": "products", "format": "csv", "filters": filters,
        "fields": ["sku", "name", "price"]}).json()["data"]
    xlsx_job = api.post("/api/v2/exports", json={
        "entity": "products", "format": "xlsx", "filters": filters}).json()["data"]
    assert finished(api, csv_job["id"])["status"] == "completed"
    assert finished(api, xlsx_job["id"])["status"] == "completed"

    got = download(api, csv_job["id"])
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert f'filename="products-{csv_job["id"]}.csv"' in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text, newline="")))
    assert [r["sku"] for r in rows] == skus
    assert rows[3]["name"] == "'=cmd|' /C calc'!A0 3" and rows[3]["price"] == "3.25"

    sheet = load_workbook(io.BytesIO(download(api, xlsx_job["id"]).content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 41 and values[4][2] == "=cmd|' /C calc'!A0 3"  # text, not a formula

    history = api.get("/api/v2/exports", params={"entity": "products"}).json()["data"]
    assert {csv_job["id"], xlsx_job["id"]} <= {e["id"] for e in history}
    assert api.delete(f"/api/v2/exports/{csv_job['id']}").status_code == 200
    assert api.get(f"/api/v2/exports/{csv_job['id']}/download").status_code == 409
