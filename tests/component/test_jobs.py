"""The job engine on its own, with a kind made for the test: it counts 0..n-1 into
"parts" (kept by part number, so writing a part again replaces it, as S3's multipart
parts do), checkpoints after every second page and carries what it holds over a
suspension in the checkpoint itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.component.jobs_queue import Clockwork, jobs_url, run_jobs, sqs
from tests.conftest import Api, make_user

OUTPUT: dict[str, dict[int, list[int]]] = {}
CLEANED: list[str] = []
STEPS: list[str] = []


class CountRun:
    def __init__(self, job: Any) -> None:
        point = job.checkpoint or {}
        self.job, self.n, self.size = job, job.params["n"], job.params["page"]
        self.cursor, self.parts = point.get("cursor", 0), point.get("parts", 0)
        self.buffer: list[int] = list(point.get("carry", []))

    def step(self) -> Any:
        from chalicelib.jobs.kinds import JobFailed, Step

        STEPS.append(self.job.id)
        if self.job.params.get("explode"):
            raise RuntimeError("boom")
        if self.job.params.get("refuse"):
            raise JobFailed("CONFLICT", "refused")
        page = list(range(self.cursor, min(self.cursor + self.size, self.n)))
        self.buffer += page
        self.cursor += len(page)
        if self.cursor >= self.n:
            self._commit()
            return Step(self.n, done=True, result={"parts": self.parts})
        if (self.cursor // self.size) % 2 == 0:  # every second page: a part
            self._commit()
            return Step(self.cursor, checkpoint={"cursor": self.cursor, "parts": self.parts})
        return Step(self.cursor)

    def suspend(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "parts": self.parts, "carry": self.buffer}

    def _commit(self) -> None:
        self.parts += 1
        OUTPUT.setdefault(self.job.id, {})[self.parts] = list(self.buffer)
        self.buffer = []


@pytest.fixture
def count_kind() -> Iterator[None]:
    from chalicelib.jobs import kinds

    class CountKind(kinds.Kind):
        name = "count"

        def required_scopes(self, job: Any) -> list[str]:
            return ["logs:read"]

        def start(self, job: Any) -> Any:
            return CountRun(job)

        def cleanup(self, job: Any) -> None:
            CLEANED.append(job.id)
            OUTPUT.pop(job.id, None)

    kinds.register(CountKind())
    OUTPUT.clear()
    CLEANED.clear()
    STEPS.clear()
    yield
    kinds.KINDS.pop("count")


def analyst(admin: Api, name: str = "ana", sandbox: bool = False) -> tuple[Any, dict]:
    from chalicelib.core.principal import Principal
    from chalicelib.core.scopes import BUILTIN_ROLES

    _, user = make_user(admin, name, ["analyst"])
    return Principal(kind="user", id=user["id"], owner=user["id"], sandbox=sandbox,
                     scopes=frozenset(BUILTIN_ROLES["analyst"])), user


def submit(principal: Any, **params: Any) -> Any:
    from chalicelib.jobs import service

    return service.submit(principal, "count", "cnt", {"n": 30, "page": 3, **params})


def output(job_id: str) -> list[int]:
    parts = OUTPUT.get(job_id, {})
    return [n for number in sorted(parts) for n in parts[number]]


def load(job_id: str) -> Any:
    from chalicelib.jobs import repo

    return repo.get(job_id)


def test_a_job_runs_to_the_end_in_one_invocation(admin: Api, count_kind: None) -> None:
    who, _ = analyst(admin)
    job = submit(who)
    assert load(job.id).status == "pending"
    assert run_jobs() == 1
    done = load(job.id)
    assert done.status == "completed" and done.processed_rows == done.total_rows == 30
    assert done.percentage == 100.0 and done.result == {"parts": 5}
    assert done.started_at and done.finished_at and done.lease_id is None
    assert output(job.id) == list(range(30))


def test_a_job_continues_across_invocations_without_repeating(admin: Api,
                                                             count_kind: None) -> None:
    who, _ = analyst(admin)
    job = submit(who, n=100)
    invocations = run_jobs(Clockwork(3))  # three pages per invocation
    assert invocations > 5
    done = load(job.id)
    assert done.status == "completed" and done.seq == invocations - 1
    assert output(job.id) == list(range(100))


def test_a_duplicate_or_stale_message_does_nothing(admin: Api, count_kind: None) -> None:
    from chalicelib.jobs import engine

    who, _ = analyst(admin)
    job = submit(who)
    run_jobs(Clockwork(2), limit=1)  # suspended: seq 1 expected next
    assert load(job.id).seq == 1
    assert engine.handle(job.id, 0).action == "done"  # the first message, again
    assert STEPS.count(job.id) == 2 and load(job.id).status == "running"
    run_jobs()
    assert load(job.id).status == "completed" and output(job.id) == list(range(30))
    steps = STEPS.count(job.id)
    assert engine.handle(job.id, 1).action == "done"  # a finished job: nothing
    assert STEPS.count(job.id) == steps


def test_a_message_for_a_leased_job_comes_back_when_the_lease_ends(
        admin: Api, count_kind: None, monkeypatch: Any) -> None:
    from chalicelib.core import clock
    from chalicelib.jobs import engine, queue, repo

    who, _ = analyst(admin)
    job = submit(who)
    held = repo.write(load(job.id), lease_id="lease_other", lease_until=clock.now() + 40)
    outcome = engine.handle(job.id, 0)
    assert outcome.action == "later" and 40 <= outcome.retry_in <= 42
    assert STEPS == []
    # through the worker: reported failed, its visibility set to the lease's end
    seen: list[int] = []
    monkeypatch.setattr(queue, "come_back_in", lambda receipt, seconds: seen.append(seconds))
    assert run_jobs() == 1 and seen and 40 <= seen[0] <= 42
    clock.advance(held.lease_until - clock.now() + 1)  # the other worker died
    sqs().purge_queue(QueueUrl=jobs_url())
    assert engine.handle(job.id, 0).action == "done"
    assert load(job.id).status == "completed" and output(job.id) == list(range(30))


def test_an_unexpected_error_lets_the_message_come_back_then_fails_the_job(
        admin: Api, count_kind: None) -> None:
    from chalicelib.jobs import engine

    who, _ = analyst(admin)
    job = submit(who, explode=True)
    for attempt in range(1, engine.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            engine.handle(job.id, 0)
        item = load(job.id)
        assert item.attempts == attempt and item.lease_id is None and item.status == "running"
    assert engine.handle(job.id, 0).action == "done"
    failed = load(job.id)
    assert failed.status == "failed" and failed.errors[-1]["code"] == "INTERNAL_ERROR"
    assert CLEANED == [job.id]


def test_a_job_failed_by_its_kind_is_cleaned_up(admin: Api, count_kind: None) -> None:
    who, _ = analyst(admin)
    job = submit(who, refuse=True)
    run_jobs()
    failed = load(job.id)
    assert failed.status == "failed" and failed.errors[0]["code"] == "CONFLICT"
    assert failed.lease_id is None and not failed.cleanup and CLEANED == [job.id]


def test_a_right_lost_meanwhile_fails_the_job(admin: Api, count_kind: None) -> None:
    who, user = analyst(admin)
    job = submit(who)
    assert admin.put(f"/api/v1/users/{user['id']}", {"roles": ["viewer"]}).status_code == 200
    run_jobs()
    failed = load(job.id)
    assert failed.status == "failed" and "logs:read" in failed.errors[0]["message"]
    assert STEPS == []


def test_cancel_of_an_idle_job_cleans_up_at_once(admin: Api, count_kind: None) -> None:
    from chalicelib.jobs import service

    who, _ = analyst(admin)
    job = submit(who)
    run_jobs(Clockwork(3), limit=1)
    assert output(job.id)
    steps = STEPS.count(job.id)
    cancelled = service.cancel(who, job.id, "count")
    assert cancelled.status == "cancelled" and not cancelled.cleanup
    assert CLEANED == [job.id] and output(job.id) == []
    run_jobs()  # the continuation finds it cancelled
    assert STEPS.count(job.id) == steps and load(job.id).status == "cancelled"
    assert service.cancel(who, job.id, "count").version == load(job.id).version


def test_cancel_of_a_running_job_is_seen_between_pages(admin: Api, count_kind: None,
                                                       monkeypatch: Any) -> None:
    from chalicelib.jobs import service

    who, _ = analyst(admin)
    job = submit(who)
    real = CountRun.step

    def step(self: CountRun) -> Any:
        if STEPS.count(job.id) == 4:
            marked = service.cancel(who, job.id, "count")
            assert marked.status == "cancelled" and marked.cleanup  # the worker cleans
        return real(self)

    monkeypatch.setattr(CountRun, "step", step)
    run_jobs()
    item = load(job.id)
    assert STEPS.count(job.id) == 5  # the page in progress, then nothing more
    assert item.status == "cancelled" and not item.cleanup and item.lease_id is None
    assert CLEANED == [job.id] and output(job.id) == []


def test_owners_see_their_jobs_admins_all_sandboxes_theirs(admin: Api,
                                                           count_kind: None) -> None:
    from chalicelib.core.errors import NotFound
    from chalicelib.core.principal import Principal
    from chalicelib.jobs import service

    ana, _ = analyst(admin, "ana")
    ben, _ = analyst(admin, "ben")
    sandboxed = Principal(kind="api_key", id="key_sb", owner=ana.owner, sandbox=True,
                          scopes=ana.scopes)
    first, second, third = submit(ana), submit(ana), submit(sandboxed)
    mine, _ = service.listing(ana, "count", cursor=None, limit=10)
    assert [j.id for j in mine] == [third.id, second.id, first.id]  # newest first
    assert service.listing(ben, "count", cursor=None, limit=10)[0] == []
    only_sandbox, _ = service.listing(sandboxed, "count", cursor=None, limit=10)
    assert [j.id for j in only_sandbox] == [third.id]
    with pytest.raises(NotFound):
        service.visible(ben, first.id, "count")
    with pytest.raises(NotFound):
        service.visible(sandboxed, first.id, "count")
    with pytest.raises(NotFound):
        service.visible(ana, first.id, "export")  # another kind's id space
    root = Principal(kind="client", id="admin", owner="usr_root", scopes=frozenset({"admin"}))
    everyone, cursor = service.listing(root, "count", cursor=None, limit=2)
    rest, _ = service.listing(root, "count", cursor=cursor, limit=2)
    assert [j.id for j in everyone + rest] == [third.id, second.id, first.id]


def test_a_message_that_is_not_a_job_message_is_reported_failed(count_kind: None,
                                                                 stack: None) -> None:
    from chalicelib.jobs import worker

    result = worker.process_batch({"Records": [{"messageId": "m1", "receiptHandle": "r",
                                                "body": '{"nope": 1}'}]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    gone = worker.process_batch({"Records": [{"messageId": "m2", "receiptHandle": "r",
                                              "body": '{"jobId": "cnt_missing"}'}]})
    assert gone == {"batchItemFailures": []}


def test_the_jobs_function_registers_every_kind_on_its_own() -> None:
    """The jobs Lambda serves no route: in a fresh process, its handler's registration
    alone must know every kind a route or a schedule can submit."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    code = ("import json\nimport app\nfrom chalicelib.jobs.kinds import KINDS\n"
            "before = sorted(KINDS)\napp.job_kinds()\nprint(json.dumps([before, sorted(KINDS)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout
    before, after = json.loads(out.strip().splitlines()[-1])
    wanted = {"export", "import", "sync"}
    # Importing the app (the API's cold start) loads none of them; the handler does.
    assert not wanted & set(before), before
    assert wanted <= set(after), after
