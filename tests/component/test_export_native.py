"""The admins' full-table dump by DynamoDB's export to S3 (exports/native.py): moto
runs ExportTableToPointInTime (the stack keeps point-in-time recovery on, as
infra/template.py asks) and writes one gzipped DYNAMODB_JSON data object."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
import requests

from tests.component.helpers import assert_error
from tests.component.jobs_queue import run_jobs
from tests.component.test_exports import (
    _empty_bucket,  # noqa: F401 - the bucket emptied after each test
    export_of,
    job_item,
    objects,
    seed_products,
    start,
)
from tests.conftest import Api, make_user

V = "/api/v1"
BODY = {"entity": "table", "format": "dynamodb_json"}


def no_delay(monkeypatch: Any) -> None:
    """The job's polls come back at once (SQS's delay capped at 0 s)."""
    from chalicelib.jobs import queue

    monkeypatch.setattr(queue, "MAX_DELAY", 0)


def test_an_admin_dumps_the_whole_table_through_dynamodbs_export(admin: Api,
                                                                 monkeypatch: Any) -> None:
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings

    pitr = aws.client("dynamodb").describe_continuous_backups(
        TableName=get_settings().table_name)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    seed_products(20, ns="live")
    seed_products(5, ns="sandbox")
    no_delay(monkeypatch)  # moto's export: a thread
    job = start(admin, BODY)
    assert run_jobs() >= 1
    done = export_of(admin, job["id"])
    assert done["status"] == "completed", done
    result = job_item(job["id"]).result
    assert result["exportArn"] and result["rows"] >= 25  # every item, both namespaces
    [data] = [f for f in done["result"]["files"] if f["kind"] == "data"]
    assert data["name"].endswith(".gz") and data["bytes"] > 0
    keys = objects(job["id"])
    assert keys and all(k.startswith(f"exports/{job['id']}/native/") for k in keys)
    link = admin.get(f"{V}/exports/{job['id']}/download", headers={"Accept": "application/json"})
    assert link.status_code == 200, link.body
    [file] = [f for f in link.json["data"]["files"] if f["kind"] == "data"]
    got = requests.get(file["downloadUrl"], timeout=10)
    assert got.status_code == 200
    items = [json.loads(line)["Item"] for line in gzip.decompress(got.content).splitlines()]
    pks = {i["PK"]["S"] for i in items}
    assert "PRODUCT#live#prd_li000000" in pks and "PRODUCT#sandbox#prd_sa000000" in pks
    assert admin.get(f"{V}/exports/{job['id']}/download").status_code == 302
    assert_error(admin.get(f"{V}/exports/{job['id']}/dictionary"), 409, "CONFLICT")


def test_only_an_admin_may_dump_the_table(admin: Api) -> None:
    ann, _ = make_user(admin, "ann", ["analyst"])
    assert_error(ann.post(f"{V}/exports", BODY), 403, "AUTHORIZATION_ERROR")
    resp = admin.post(f"{V}/api-keys", {"name": "sb", "scopes": ["exports:run",
                                                                 "products:read"],
                                        "sandbox": True})
    sandbox = admin.as_key(resp.json["data"]["key"])
    assert_error(sandbox.post(f"{V}/exports", BODY), 403, "AUTHORIZATION_ERROR")


def test_bad_bodies_answer_422(admin: Api) -> None:
    for body, field in (({"entity": "table", "format": "csv"}, "format"),
                        ({**BODY, "fields": ["PK"]}, "fields"),
                        ({**BODY, "filters": {"q": "x"}}, "filters"),
                        ({"entity": "products", "format": "dynamodb_json"}, "format")):
        resp = admin.post(f"{V}/exports", body)
        assert resp.status_code == 422, (body, resp.body)
        assert field in {d["field"] for d in resp.json["error"]["details"]}


def test_a_dump_whose_export_fails_fails_the_job(admin: Api, monkeypatch: Any) -> None:
    from chalicelib.exchange.exports import native

    real = native._dynamodb

    class Failing:
        def __init__(self) -> None:
            self.client = real()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def describe_export(self, **kwargs: Any) -> dict[str, Any]:
            return {"ExportDescription": {"ExportStatus": "FAILED",
                                          "FailureCode": "S3NoSuchBucket",
                                          "FailureMessage": "The bucket went."}}

    monkeypatch.setattr(native, "_dynamodb", Failing)
    no_delay(monkeypatch)
    job = start(admin, BODY)
    run_jobs()
    failed = export_of(admin, job["id"])
    assert failed["status"] == "failed"
    assert failed["errors"][0]["message"] == ("DynamoDB's export failed: S3NoSuchBucket: "
                                              "The bucket went.")
    assert objects(job["id"]) == []


def test_a_dump_that_never_finishes_fails_after_the_wait_limit(admin: Api,
                                                                monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from chalicelib.exchange.exports import native

    real = native._dynamodb

    class Stuck:
        def __init__(self) -> None:
            self.client = real()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def describe_export(self, **kwargs: Any) -> dict[str, Any]:
            return {"ExportDescription": {"ExportStatus": "IN_PROGRESS"}}

    monkeypatch.setattr(native, "_dynamodb", Stuck)
    no_delay(monkeypatch)
    job = start(admin, BODY)
    assert run_jobs(limit=3) == 3  # started, then polled twice
    assert job_item(job["id"]).status == "running"
    clock.advance(native.WAIT_LIMIT + 1)
    run_jobs()
    failed = job_item(job["id"])  # the admin's token expired meanwhile
    assert failed.status == "failed"
    assert failed.errors[0]["message"] == (
        "DynamoDB's export did not finish within 24 hours; run it again.")
    assert objects(job["id"]) == []


def test_the_poll_setting_is_at_least_a_second() -> None:
    from pydantic import ValidationError

    from chalicelib.core.settings import from_environ

    assert from_environ({"GATEHOUSE_EXPORT_POLL_SECONDS": "1"}).export_poll_seconds == 1
    for bad in ("0", "-1", "901"):
        with pytest.raises(ValidationError):
            from_environ({"GATEHOUSE_EXPORT_POLL_SECONDS": bad})


def capped_listings(monkeypatch: Any, keys: int) -> None:
    """S3 answering every listing with at most `keys` keys (and IsTruncated)."""
    from chalicelib.exchange.exports import storage

    real = storage._s3

    class Capped:
        def __init__(self) -> None:
            self.client = real()

        def __getattr__(self, name: str) -> Any:
            return getattr(self.client, name)

        def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
            return self.client.list_objects_v2(**{**kwargs, "MaxKeys": keys})

    monkeypatch.setattr(storage, "_s3", Capped)


def test_a_dump_lists_every_file_when_s3_answers_short_pages(admin: Api,
                                                             monkeypatch: Any) -> None:
    from chalicelib.exchange.exports import native, storage

    seed_products(10)
    no_delay(monkeypatch)
    capped_listings(monkeypatch, 1)
    job = start(admin, BODY)
    for name in ("manifest-summary.json", "manifest-summary.md5"):  # moto writes none
        storage.put(f"{native.prefix(job['id'])}/AWSDynamoDB/0-manifests/{name}", b"{}",
                    "application/json")
    run_jobs()
    done = job_item(job["id"])
    assert done.status == "completed", done.errors
    written = [k for k in objects(job["id"]) if not k.endswith("/_started")]
    assert len(written) == 3
    assert sorted(f["key"] for f in done.result["files"]) == sorted(written)


def test_each_dump_file_downloads_with_its_own_type() -> None:
    from urllib.parse import parse_qs, urlparse

    from chalicelib.exchange.exports import native
    from chalicelib.jobs.model import Job

    names = ["manifest-summary.json", "manifest-summary.md5", "abc.json.gz"]
    job = Job(id="exp_x", kind="export", owner="usr_x", sandbox=False, status="completed",
              created_at="2026-01-01T00:00:00.000Z", created_by="client:admin", scopes=(),
              params={}, result={"files": [{"name": n, "key": f"exports/exp_x/native/{n}",
                                            "bytes": 1, "kind": "data"} for n in names]})
    types = [parse_qs(urlparse(f["downloadUrl"]).query)["response-content-type"][0]
             for f in native.links(job)["files"]]
    assert types == ["application/json", "text/plain", "application/gzip"]
