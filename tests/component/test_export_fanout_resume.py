"""A fanned-out export (exports/fanout.py) whose own runs die or stall: a spawn cut short,
a segment whose messages ran out, a wait past its bound, a wake-up while it holds its
lease, an assembly bounded per step. The fixtures are test_export_fanout's: 2 KiB chunks
and parts, four segments from 300 rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.component.helpers import set_env
from tests.component.jobs_queue import Died, run_jobs
from tests.component.test_export_fanout import (
    SEGMENTS,
    fanned,  # noqa: F401 - the 2 KiB chunks and parts
    ids_of,
    lower_threshold,
    segment_jobs,
)
from tests.component.test_exports import (
    _empty_bucket,  # noqa: F401 - the bucket emptied after each test
    export_of,
    fetch,
    job_item,
    objects,
    seed_products,
    start,
)
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("fanned")


def resend(job_id: str) -> None:
    """The job's message as SQS gives it back once its lease ran out."""
    from chalicelib.core import clock
    from chalicelib.jobs import queue

    job = job_item(job_id)
    if job.lease_until is not None and job.lease_until > clock.now():
        clock.advance(job.lease_until - clock.now() + 1)
    queue.send(job_id, job.seq)


def test_a_spawn_cut_short_resumes_with_the_saved_split_and_sends_every_message(
        admin: Api, monkeypatch: Any) -> None:
    from chalicelib.exchange.exports import fanout, segments
    from chalicelib.jobs import queue

    seeded = seed_products(600, noisy=True)
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": "csv"})
    real_send, real_wanted = queue.send, fanout.wanted
    cut, estimates = {"done": False}, {"calls": 0}

    def send_or_die(job_id: str, seq: int, delay: int = 0) -> None:
        if job_id == segments.child_id(job["id"], 2) and not cut["done"]:
            cut["done"] = True  # segment 3 written, its message never sent
            raise Died
        real_send(job_id, seq, delay)

    def counted(job: Any) -> int:
        estimates["calls"] += 1
        return real_wanted(job)

    monkeypatch.setattr(queue, "send", send_or_die)
    monkeypatch.setattr(fanout, "wanted", counted)
    with pytest.raises(Died):
        run_jobs()
    assert job_item(job["id"]).checkpoint["fanout"]["segments"] == SEGMENTS
    assert [s is not None for s in segment_jobs(job["id"])] == [True, True, True, False]
    monkeypatch.setattr(fanout, "wanted", lambda job: 0)  # the table changed meanwhile
    resend(job["id"])
    run_jobs()
    done = export_of(admin, job["id"])
    assert done["status"] == "completed", done
    assert done["result"]["segments"] == SEGMENTS and estimates["calls"] == 1
    got = ids_of("csv", fetch(admin, job["id"]))
    assert len(got) == 600 and set(got) == {p["id"] for p in seeded}


def test_a_segment_of_another_split_fails_the_export(
        admin: Api, monkeypatch: Any) -> None:
    from chalicelib.exchange.exports import segments
    from chalicelib.jobs import queue
    from chalicelib.jobs import repo as job_repo

    seed_products(600)
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": "csv"})
    real_send = queue.send

    def send_or_die(job_id: str, seq: int, delay: int = 0) -> None:
        if job_id == segments.child_id(job["id"], 1):
            raise Died
        real_send(job_id, seq, delay)

    monkeypatch.setattr(queue, "send", send_or_die)
    with pytest.raises(Died):
        run_jobs()
    monkeypatch.setattr(queue, "send", real_send)
    child = job_item(segments.child_id(job["id"], 1))
    job_repo.write(child, params={**child.params, "segments": 3})
    resend(job["id"])
    run_jobs()
    failed = export_of(admin, job["id"])
    assert failed["status"] == "failed"
    assert failed["errors"][0]["message"] == (
        "Segment 2 exists for a split into 3 segments, not 4; run the export again.")
    assert objects(job["id"]) == []


def die_in_segment_one(monkeypatch: Any) -> None:
    """Segment 2's first step kills its worker, as a Lambda timing out does."""
    from chalicelib.exchange.exports import segments

    real, seen = segments.SegmentRun.step, {"died": False}

    def step_or_die(self: Any) -> Any:
        if self.segment == 1 and not seen["died"]:
            seen["died"] = True
            raise Died
        return real(self)

    monkeypatch.setattr(segments.SegmentRun, "step", step_or_die)


def test_a_segment_whose_messages_ran_out_gets_a_new_one(admin: Api,
                                                         monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from chalicelib.exchange.exports import segments
    from chalicelib.jobs import queue

    seeded = seed_products(600)
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": "ndjson"})
    die_in_segment_one(monkeypatch)
    with pytest.raises(Died):
        run_jobs()
    run_jobs()  # the other segments complete; the export sees segment 2 stalled
    stalled = job_item(segments.child_id(job["id"], 1))
    assert stalled.status == "running" and export_of(admin, job["id"])["status"] == "running"
    # its message went to the dead-letter queue: only the export's polling is left
    clock.advance(stalled.lease_until - clock.now() + queue.VISIBILITY_SECONDS + 1)
    resend(job["id"])
    run_jobs()
    done = export_of(admin, job["id"])
    assert done["status"] == "completed", done
    assert sorted(ids_of("ndjson", fetch(admin, job["id"]))) == sorted(
        p["id"] for p in seeded)


def test_an_export_whose_segments_never_finish_fails_after_the_wait_limit(
        admin: Api, monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from chalicelib.exchange.exports import fanout

    seed_products(600)
    lower_threshold(monkeypatch)
    job = start(admin, {"entity": "products", "format": "csv"})
    die_in_segment_one(monkeypatch)
    with pytest.raises(Died):
        run_jobs()
    run_jobs()
    assert export_of(admin, job["id"])["status"] == "running"
    clock.advance(fanout.WAIT_LIMIT + 1)
    resend(job["id"])
    run_jobs()
    failed = job_item(job["id"])  # the admin's token expired meanwhile
    assert failed.status == "failed"
    assert failed.errors[0]["message"] == (
        "The export's 4 segments did not all finish within 6 hours; run it again.")
    assert objects(job["id"]) == []
    assert segment_jobs(job["id"])[1].status == "cancelled"


def test_the_queues_visibility_timeout_is_the_templates() -> None:
    from chalicelib.jobs import queue
    from infra.template import VISIBILITY_TIMEOUT

    assert queue.VISIBILITY_SECONDS == VISIBILITY_TIMEOUT["jobs"]


def test_an_assembly_step_writes_at_most_two_parts(admin: Api, monkeypatch: Any) -> None:
    from chalicelib.exchange.exports import assemble

    seeded = seed_products(600, noisy=True)
    lower_threshold(monkeypatch)
    real, per_step = assemble.Assembly.step, []

    def counted(self: Any) -> Any:
        before = self.parts
        result = real(self)
        per_step.append(self.parts - before)
        return result

    monkeypatch.setattr(assemble.Assembly, "step", counted)
    job = start(admin, {"entity": "products", "format": "json"})
    run_jobs()
    assert export_of(admin, job["id"])["status"] == "completed"
    assert job_item(job["id"]).result["parts"] > 6 and len(per_step) > 3
    assert max(per_step) <= 2  # the last step's small last part included
    got = ids_of("json", fetch(admin, job["id"]))
    assert sorted(got) == sorted(p["id"] for p in seeded)


def test_a_segment_ending_while_the_export_holds_its_lease_still_wakes_it(
        admin: Api, monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from chalicelib.exchange.exports import segments
    from chalicelib.jobs import repo as job_repo

    seed_products(600)
    lower_threshold(monkeypatch)
    set_env(monkeypatch, GATEHOUSE_EXPORT_POLL_SECONDS="900")  # only a wake-up brings it
    job = start(admin, {"entity": "products", "format": "csv"})
    told = segments.SegmentKind.finished
    monkeypatch.setattr(segments.SegmentKind, "finished", lambda self, job: None)
    run_jobs()  # the segments complete without a word to the export
    assert {s.status for s in segment_jobs(job["id"])} == {"completed"}
    waiting = job_item(job["id"])
    assert waiting.status == "running" and waiting.lease_id is None
    # the export's own check holds its lease as the last segment tells it...
    held = job_repo.write(waiting, lease_id="lease_check", lease_until=clock.now() + 60)
    told(segments.KIND, segment_jobs(job["id"])[-1])
    # ...and leaves with its wait's sequence
    job_repo.write(held, lease_id=None, lease_until=None, seq=held.seq + 1)
    run_jobs()
    assert export_of(admin, job["id"])["status"] == "completed"


def test_the_assembly_takes_every_chunk_when_s3_answers_short_pages(
        admin: Api, monkeypatch: Any) -> None:
    from tests.component.test_export_native import capped_listings

    seeded = seed_products(600, noisy=True)
    lower_threshold(monkeypatch)
    capped_listings(monkeypatch, 3)
    job = start(admin, {"entity": "products", "format": "csv"})
    run_jobs()
    assert export_of(admin, job["id"])["status"] == "completed"
    got = ids_of("csv", fetch(admin, job["id"]))
    assert len(got) == 600 and set(got) == {p["id"] for p in seeded}
