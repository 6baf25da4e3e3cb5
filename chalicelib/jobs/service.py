"""What the capabilities' routes call: submit a job, see one, list them, cancel one.

Owners see only their jobs (another owner's answers 404), an admin sees all; a sandbox
principal sees and makes sandbox jobs only (they work on sandbox data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import NotFound, Unavailable
from chalicelib.core.principal import Principal
from chalicelib.events import audit
from chalicelib.jobs import kinds, queue, repo
from chalicelib.jobs.model import ACTIVE, CANCELLED, FAILED, PENDING, Job
from chalicelib.store import optimistic
from chalicelib.store import table as store

CLEANUP_LEASE = 60.0  # seconds a cancel holds the job while it removes partial output


def submit(actor: Principal, kind: str, id_prefix: str, params: dict[str, Any]) -> Job:
    """A new pending job, written with its audit entry, and its first message."""
    job = new(kind, id_prefix, params, owner=actor.owner, sandbox=actor.sandbox,
              created_by=actor.describe(), scopes=actor.scopes)
    store.transact([repo.create_op(job), audit.put_op(audit.entry(
        actor, f"{kind}.create", kind, job.id, params))])
    enqueue(job)
    return job


def new(kind: str, id_prefix: str, params: dict[str, Any], *, owner: str, sandbox: bool,
        created_by: str, scopes: Iterable[str]) -> Job:
    """A pending job, not yet written: its creator writes it (repo.create_op) in a
    transaction of its own, then calls `enqueue`. `scopes` is its ceiling."""
    kinds.KINDS[kind]  # noqa: B018 - a kind nobody registered is a bug: KeyError
    return Job(id=ids.new_id(id_prefix), kind=kind, owner=owner, sandbox=sandbox,
               status=PENDING, created_at=clock.iso(), created_by=created_by,
               scopes=tuple(sorted(scopes)), params=params)


def enqueue(job: Job) -> None:
    """A written job's first message; a job that cannot be queued fails (503)."""
    try:
        queue.send(job.id, job.seq)
    except Exception as exc:
        from chalicelib.core.logging import get_logger

        get_logger().exception("job not queued", extra={"jobId": job.id})
        repo.write(job, status=FAILED, finished_at=clock.iso(), errors=[
            {"code": "SERVICE_UNAVAILABLE", "message": "The job could not be queued.",
             "at": clock.iso()}])
        raise Unavailable("The job could not be queued; try again.") from exc


def visible(actor: Principal, job_id: str, kind: str) -> Job:
    job = repo.get(job_id) if job_id else None
    if (job is None or job.kind != kind or not actor.can_see(job.owner)
            or (actor.sandbox and not job.sandbox)):
        raise NotFound(f"No {kind} with id {job_id}.")
    return job


def listing(actor: Principal, kind: str, *, cursor: str | None, limit: int,
            keep: Callable[[Job], bool] | None = None) -> tuple[list[Job], str | None]:
    """The actor's owner's jobs of a kind (an admin: everyone's), newest first; `keep`
    filters them."""
    def wanted(job: Job) -> bool:
        return (not actor.sandbox or job.sandbox) and (keep is None or keep(job))

    return repo.listing(kind, None if actor.is_admin else actor.owner, cursor=cursor,
                        limit=limit, keep=wanted if (actor.sandbox or keep) else None)


def cancel(actor: Principal, job_id: str, kind: str) -> Job:
    """Marks a pending or running job cancelled. If no worker holds it, its partial
    output is removed here; otherwise the worker sees the change after its page and
    removes it. A finished job is answered as it is."""
    def attempt() -> tuple[Job, bool, bool]:
        job = visible(actor, job_id, kind)
        now = clock.now()
        idle = not (job.lease_until is not None and job.lease_until > now)
        changes: dict[str, Any] = {}
        if job.status in ACTIVE:
            changes.update(status=CANCELLED, finished_at=clock.iso(now), cleanup=True)
        elif not (job.cleanup and idle):  # finished, or its worker is cleaning up
            return job, False, False
        if idle:
            changes.update(lease_id=ids.new_id("lease"), lease_until=now + CLEANUP_LEASE)
        return repo.write(job, **changes), idle, job.status in ACTIVE

    job, idle, cancelled = optimistic.retry(attempt, conflict="The job changed "
                                            "concurrently; try again.")
    if cancelled:
        audit.record(actor, f"{kind}.cancel", kind, job.id, {}, owner=job.owner)
    if idle and job.cleanup:
        from chalicelib.jobs import engine  # the worker's; loaded here only to clean up

        job = engine.clean(job) or job
    return job


def amend(actor: Principal, job_id: str, kind: str,
          change: Callable[[Job], dict[str, Any] | None]) -> Job:
    """A read-change-write of a job's fields (`change` answers them, or None to leave
    the job as it is), redone on the new state when someone wrote in between."""
    def attempt() -> Job:
        job = visible(actor, job_id, kind)
        changes = change(job)
        return job if not changes else repo.write(job, **changes)

    return optimistic.retry(attempt, conflict="The job changed concurrently; try again.")
