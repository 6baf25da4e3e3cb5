"""Exports fanned out over DynamoDB parallel Scan segments (exports/fanout.py): the
threshold lowered so that a few thousand products fan out over four segment jobs, with
chunks and parts of 2 KiB (S3's 5 MiB part minimum lowered in moto alike) so that many
chunks are written and the file is assembled from several parts, some of them copied by
S3 (UploadPartCopy)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.component.helpers import set_env
from tests.component.jobs_queue import Died, run_jobs
from tests.component.test_exports import (
    _empty_bucket,  # noqa: F401 - the bucket emptied after each test
    csv_rows,
    export_of,
    fetch,
    job_item,
    objects,
    seed_products,
    start,
    uploads,
)
from tests.conftest import Api, make_user

V = "/api/v1"
SEGMENTS = 4


@pytest.fixture
def fanned(monkeypatch: Any) -> dict[str, int]:
    """Fan-out from 300 rows over four segments; 2 KiB chunks and parts, Scan pages of
    100 items. Answers the count of parts S3 copied."""
    import moto.s3.models

    from chalicelib.exchange.exports import assemble, segments, storage

    monkeypatch.setattr(segments, "CHUNK_BYTES", 2048)
    monkeypatch.setattr(segments, "SCAN_ITEMS", 100)
    monkeypatch.setattr(assemble, "MIN_PART_BYTES", 2048)
    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 2048)
    copies = {"parts": 0}
    real = storage.copy_part

    def counted(*args: Any) -> bool:
        copies["parts"] += 1
        return real(*args)

    monkeypatch.setattr(storage, "copy_part", counted)
    return copies


def lower_threshold(monkeypatch: Any, rows: int = 300) -> None:
    set_env(monkeypatch, GATEHOUSE_EXPORT_FANOUT_ROWS=str(rows),
            GATEHOUSE_EXPORT_FANOUT_SEGMENTS=str(SEGMENTS))


def segment_jobs(export_id: str) -> list[Any]:
    from chalicelib.exchange.exports.segments import child_id

    return [job_item(child_id(export_id, i)) for i in range(SEGMENTS)]


def run_until_spawned(export_id: str) -> None:
    """The export's runs until its segments exist (a slow estimate may leave its first
    invocation no time to spawn them after saving its split)."""
    while not (job_item(export_id).checkpoint or {}).get("spawned"):
        assert run_jobs(limit=1) == 1


def ids_of(fmt: str, data: bytes) -> list[str]:
    """The ids of a file's rows, in file order."""
    if fmt == "csv":
        return [r["id"] for r in csv_rows(data)]
    if fmt == "json":
        return [r["id"] for r in json.loads(data)]
    if fmt == "ndjson":
        return [json.loads(line)["id"] for line in data.decode().splitlines()]
    return [str(r.findtext("id")) for r in ET.fromstring(data)]


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson", "xml"])
def test_a_fanned_out_file_holds_the_serial_exports_rows(
        admin: Api, fanned: dict[str, int], monkeypatch: Any, fmt: str) -> None:
    seeded = seed_products(1200, noisy=True)
    serial = start(admin, {"entity": "products", "format": fmt})
    run_jobs()
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": fmt})
    run_until_spawned(job["id"])  # the export saves its split, spawns its segments, waits
    waiting = job_item(job["id"])
    assert waiting.status == "running" and waiting.lease_id is None
    assert waiting.checkpoint["fanout"]["segments"] == SEGMENTS
    assert waiting.checkpoint["spawned"] is True
    assert [s.status for s in segment_jobs(job["id"])] == ["pending"] * SEGMENTS
    run_jobs()
    done = export_of(admin, job["id"])
    assert done["status"] == "completed", done
    assert done["progress"]["processedRows"] == 1200 and done["rows"] == 1200
    assert done["result"]["rowOrder"] == "unordered"
    assert done["result"]["segments"] == SEGMENTS
    parts = segment_jobs(job["id"])
    assert all(s.status == "completed" for s in parts)
    assert sum(s.result["rows"] for s in parts) == 1200
    assert all(s.result["chunks"] > 1 for s in parts)  # every segment wrote several
    assert job_item(job["id"]).result["parts"] > 2 and fanned["parts"] > 0
    assert sorted(objects(job["id"])) == sorted([  # the chunks and carry-overs went
        f"exports/{job['id']}/products.{fmt}", f"exports/{job['id']}/products.dictionary.json"])
    assert uploads(job["id"]) == []
    first, second = fetch(admin, serial["id"]), fetch(admin, job["id"])
    assert len(second) == len(first) == done["bytes"]  # the same rows, the same bytes
    got = ids_of(fmt, second)
    assert len(got) == 1200 and set(got) == {p["id"] for p in seeded}
    assert got != ids_of(fmt, first)  # segment by segment, not createdAt order
    if fmt == "csv":
        assert second.count(b"id,sku,name,") == 1 and second.startswith(b"id,sku,name,")
    if fmt == "xml":
        assert second.startswith(b'<?xml version="1.0"') and second.count(b"<?xml") == 1
    dictionary = json.loads(fetch(admin, job["id"], "dictionary"))
    assert dictionary["rows"] == 1200 and dictionary["rowOrder"] == "unordered"


def test_filters_apply_to_every_segment(admin: Api, fanned: dict[str, int],
                                        monkeypatch: Any) -> None:
    seeded = seed_products(1000)
    cutoff = seeded[400]["createdAt"]
    filters = {"category": "kitchen", "priceMin": "2.00", "createdAfter": cutoff}
    serial = start(admin, {"entity": "products", "format": "ndjson", "filters": filters})
    run_jobs()
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": "ndjson", "filters": filters})
    run_jobs()
    assert job_item(job["id"]).result["segments"] == SEGMENTS
    want = ids_of("ndjson", fetch(admin, serial["id"]))
    got = ids_of("ndjson", fetch(admin, job["id"]))
    # kitchen (even i), price >= 2.00 (i >= 100), created at or after product 400
    assert sorted(got) == sorted(want) == [p["id"] for p in seeded[400::2]]


def test_a_segment_that_dies_resumes_from_its_checkpoint_without_duplicates(
        admin: Api, fanned: dict[str, int], monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from chalicelib.exchange.exports import segments
    from chalicelib.jobs import queue

    seeded = seed_products(1200, noisy=True)
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": "csv"})
    real, seen = segments.SegmentRun.step, {"checkpoints": 0, "died": False}

    def step_then_die(self: Any) -> Any:
        step = real(self)
        if self.segment != 1 or seen["died"]:
            return step
        if seen["checkpoints"] >= 2:  # a chunk written after the second checkpoint
            seen["died"] = True
            raise Died
        seen["checkpoints"] += step.checkpoint is not None
        return step

    monkeypatch.setattr(segments.SegmentRun, "step", step_then_die)
    with pytest.raises(Died):
        run_jobs()
    dead = job_item(segments.child_id(job["id"], 1))
    assert dead.status == "running" and dead.lease_id and dead.checkpoint["chunks"] >= 2
    # SQS delivers the message again once its lease ran out
    clock.advance(dead.lease_until - clock.now() + 1)
    queue.send(dead.id, dead.seq)
    run_jobs()
    assert export_of(admin, job["id"])["status"] == "completed"
    got = ids_of("csv", fetch(admin, job["id"]))
    assert len(got) == 1200 and set(got) == {p["id"] for p in seeded}


def test_cancel_cancels_the_segments_and_removes_their_chunks(
        admin: Api, fanned: dict[str, int], monkeypatch: Any) -> None:
    seed_products(1200, noisy=True)
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": "json"})
    run_until_spawned(job["id"])
    assert run_jobs(limit=1) == 1  # the first segment wrote its chunks
    assert any("/chunks/" in k for k in objects(job["id"]))
    resp = admin.delete(f"{V}/exports/{job['id']}")
    assert resp.status_code == 200 and resp.json["data"]["status"] == "cancelled"
    assert objects(job["id"]) == [] and uploads(job["id"]) == []
    assert [s.status for s in segment_jobs(job["id"])] == [
        "completed", "cancelled", "cancelled", "cancelled"]
    run_jobs()  # their messages find them cancelled: nothing more is written
    assert objects(job["id"]) == [] and job_item(job["id"]).status == "cancelled"


def test_a_failed_segment_fails_the_export_and_removes_the_output(
        admin: Api, fanned: dict[str, int], monkeypatch: Any) -> None:
    from chalicelib.exchange.exports import segments
    from chalicelib.jobs.kinds import JobFailed

    seed_products(600, noisy=True)
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": "csv"})
    real = segments.SegmentRun.step

    def fail_in_segment_two(self: Any) -> Any:
        if self.segment == 2:
            raise JobFailed("INTERNAL_ERROR", "The segment broke.")
        return real(self)

    monkeypatch.setattr(segments.SegmentRun, "step", fail_in_segment_two)
    run_jobs()
    failed = export_of(admin, job["id"])
    assert failed["status"] == "failed"
    assert failed["errors"][0]["message"] == "Segment 3 of 4 failed: The segment broke."
    assert objects(job["id"]) == [] and uploads(job["id"]) == []
    assert segment_jobs(job["id"])[2].status == "failed"


def test_an_owner_who_loses_a_right_sees_the_fanned_out_export_fail(
        admin: Api, fanned: dict[str, int], monkeypatch: Any) -> None:
    seed_products(600)
    lower_threshold(monkeypatch)
    ann, user = make_user(admin, "ann", ["analyst"])
    job = start(ann, {"entity": "products", "format": "csv"})
    run_until_spawned(job["id"])
    assert run_jobs(limit=1) == 1  # one segment done
    assert admin.put(f"{V}/users/{user['id']}", {"roles": ["viewer"]}).status_code == 200
    run_jobs()
    failed = export_of(admin, job["id"])
    assert failed["status"] == "failed" and failed["errors"][0]["code"] == "AUTHORIZATION_ERROR"
    assert objects(job["id"]) == []
    # each found it on its next run, or the export's failure cancelled it
    assert {s.status for s in segment_jobs(job["id"])[1:]} <= {"failed", "cancelled"}


def test_xlsx_and_small_exports_stay_serial(admin: Api, fanned: dict[str, int],
                                            monkeypatch: Any) -> None:
    seed_products(400)
    lower_threshold(monkeypatch)
    book = start(admin, {"entity": "products", "format": "xlsx"})
    run_jobs()
    assert export_of(admin, book["id"])["status"] == "completed"
    assert "segments" not in job_item(book["id"]).result
    assert segment_jobs(book["id"]) == [None] * SEGMENTS
    lower_threshold(monkeypatch, rows=5000)  # a table smaller than the threshold
    small = start(admin, {"entity": "products", "format": "csv"})
    run_jobs()
    assert "segments" not in job_item(small["id"]).result
    assert [r["id"] for r in csv_rows(fetch(admin, small["id"]))][:2] == [
        "prd_li000000", "prd_li000001"]  # serial: createdAt order


def test_a_sandbox_export_fans_out_over_sandbox_rows_only(
        admin: Api, fanned: dict[str, int], monkeypatch: Any) -> None:
    seed_products(500, ns="live")
    seeded = seed_products(500, ns="sandbox")
    lower_threshold(monkeypatch, rows=200)
    resp = admin.post(f"{V}/api-keys", {"name": "sb", "scopes": ["exports:run",
                                                                 "products:read"],
                                        "sandbox": True})
    sandbox = admin.as_key(resp.json["data"]["key"])
    job = start(sandbox, {"entity": "products", "format": "ndjson"})
    run_jobs()
    assert job_item(job["id"]).result["segments"] == SEGMENTS
    assert all(s.sandbox for s in segment_jobs(job["id"]))
    got = ids_of("ndjson", fetch(sandbox, job["id"]))
    assert sorted(got) == [p["id"] for p in seeded]


def test_the_segments_setting_is_bounded() -> None:
    from pydantic import ValidationError

    from chalicelib.core.settings import from_environ

    assert from_environ({"GATEHOUSE_EXPORT_FANOUT_SEGMENTS": "16"}).export_fanout_segments == 16
    for bad in ("1", "33", "many"):
        with pytest.raises(ValidationError):
            from_environ({"GATEHOUSE_EXPORT_FANOUT_SEGMENTS": bad})
