"""One invocation's run of a job, for one message of the jobs queue.

1. Claim: a conditional write takes the job's lease (no other worker runs it until the
   lease ends: this invocation's remaining time plus LEASE_SLACK). A message whose
   sequence the job has passed does nothing (a duplicate, or one overtaken by a
   continuation); one that finds the job leased comes back when the lease ends.
2. Authorize: the job's principal's scopes, within its owner's current scopes, must
   still hold what the kind requires; a right lost meanwhile fails the job.
3. Steps, page by page. After each, progress (and the kind's checkpoint, when it made
   one) is written on condition that the job did not change: a cancel (DELETE) changes
   it, so the worker notices between two pages, removes the partial output and stops.
4. When the remaining time runs low the kind suspends (a checkpoint right there), a
   continuation message goes out and the lease is released: no job is bounded by one
   invocation. A worker that dies leaves its message unacknowledged; it comes back after
   the queue's visibility timeout, finds the lease expired and resumes from the last
   checkpoint, repeating no output. A step that waits (on jobs of its own: an export's
   segments) is saved the same way, its continuation delayed by the seconds it asked.
5. The end: completed (with the kind's result and events, in one transaction) or failed
   (partial output removed, events). An unexpected error releases the lease and lets the
   message come back; after MAX_ATTEMPTS such errors the job fails.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import AppError
from chalicelib.core.scopes import allows, within
from chalicelib.jobs import kinds, queue, repo
from chalicelib.jobs.kinds import JobFailed, Kind, Run
from chalicelib.jobs.model import ACTIVE, CANCELLED, COMPLETED, FAILED, FINAL, RUNNING, Job
from chalicelib.store import optimistic
from chalicelib.store.optimistic import LostRace

MARGIN = 5.0           # seconds kept to suspend, send the continuation and release
LEASE_SLACK = 30.0     # the lease outlives the invocation by this much
DEFAULT_BUDGET = 25.0  # an invocation's time without a Lambda context (a direct call)
MAX_ATTEMPTS = 3       # invocations ending in an unexpected error before the job fails
OVERTAKEN_RETRY = 2    # seconds: a continuation that arrived before its release


@dataclass(frozen=True)
class Outcome:
    action: str        # done (acknowledge) | later (the message must come back)
    retry_in: int = 0  # later: seconds until it should


DONE = Outcome("done")


class Budget:
    """The invocation's time left: the Lambda context's, else DEFAULT_BUDGET."""

    def __init__(self, context: Any) -> None:
        self._remaining = getattr(context, "get_remaining_time_in_millis", None)
        self._started = time.monotonic()

    def left(self) -> float:
        if callable(self._remaining):
            return float(self._remaining()) / 1000
        return DEFAULT_BUDGET - (time.monotonic() - self._started)


def handle(job_id: str, seq: int, context: Any = None) -> Outcome:
    budget = Budget(context)
    claimed = _claim(job_id, seq, budget.left())
    if isinstance(claimed, Outcome):
        return claimed
    if claimed.status in FINAL:  # cancelled or failed, partial output left behind
        clean(claimed)
        return DONE
    return _run(claimed, budget)


def _claim(job_id: str, seq: int, remaining: float) -> Job | Outcome:
    def attempt() -> Job | Outcome:
        job = repo.get(job_id)
        if job is None or (job.status in FINAL and not job.cleanup):
            return DONE
        if job.status in ACTIVE and seq < job.seq:
            return DONE  # a duplicate, or overtaken by a continuation
        now = clock.now()
        if job.lease_until is not None and job.lease_until > now:
            wait = OVERTAKEN_RETRY if seq > job.seq else math.ceil(job.lease_until - now) + 1
            return Outcome("later", wait)
        changes: dict[str, Any] = {"lease_id": ids.new_id("lease"),
                                   "lease_until": now + max(remaining, 0) + LEASE_SLACK}
        if job.status in ACTIVE:
            changes.update(status=RUNNING, seq=max(seq, job.seq),
                           started_at=job.started_at or clock.iso(now))
        return repo.write(job, **changes)

    return optimistic.retry(attempt, conflict="The job changed concurrently.")


def _run(job: Job, budget: Budget) -> Outcome:
    kind = kinds.of(job)
    try:
        _authorize(job, kind)
        run = kind.start(job)
        slowest = 0.0
        while True:
            began = time.monotonic()
            step = run.step()
            slowest = max(slowest, time.monotonic() - began)
            if step.done:
                _complete(job, kind, step.processed, step.result or {})
                return DONE
            changes: dict[str, Any] = {"processed_rows": step.processed}
            if step.total is not None:
                changes["total_rows"] = step.total
            if step.checkpoint is not None:
                changes["checkpoint"] = step.checkpoint
            saved = _save(job, **changes)
            if saved is None:
                return DONE
            job = saved
            if step.wait is not None:
                _continue(job, run, delay=step.wait)
                return DONE
            if budget.left() < MARGIN + 2 * slowest:
                _continue(job, run)
                return DONE
    except JobFailed as exc:
        fail(job, exc.code, exc.message)
        return DONE
    except Exception as exc:
        if isinstance(exc, AppError) and exc.status < 500:
            # A client error (a declaration or the fields changed under the job, an
            # entity gone): retrying cannot help. A 5xx is a dependency's: retried.
            fail(job, exc.code, exc.message)
            return DONE
        from chalicelib.core.logging import get_logger

        get_logger().exception("job step failed", extra={"jobId": job.id})
        if _setback(job):
            raise
        return DONE


def _authorize(job: Job, kind: Kind) -> None:
    from chalicelib.auth.owners import current_scopes, ended

    # A job started by an API key or a client ends with it (revoked, expired, deleted,
    # disabled), whatever its owner may still do: what a credential set up ends with it.
    gone = ended(job.created_by)
    if gone is not None:
        raise JobFailed("AUTHORIZATION_ERROR", f"The credential that started the job "
                        f"({job.created_by}) is {gone}.")
    owner = current_scopes([job.owner]).get(job.owner, frozenset())
    held = within(job.scopes, owner)
    missing = [s for s in kind.required_scopes(job) if not allows(held, [s])]
    if missing:
        raise JobFailed("AUTHORIZATION_ERROR", "The job's owner (or the credential that "
                        f"started it) no longer holds {', '.join(missing)}.")


def _save(job: Job, **changes: Any) -> Job | None:
    """The job as written; None when it changed meanwhile (cancelled: cleaned up here)
    and this worker must stop."""
    try:
        return repo.write(job, **changes)
    except LostRace:
        current = repo.get(job.id)
        if current is not None and current.status == CANCELLED and current.cleanup \
                and current.lease_id == job.lease_id:
            clean(current)
        return None


def _continue(job: Job, run: Run, delay: int = 0) -> None:
    """Suspends, sends the continuation (`delay` seconds later), then releases the
    lease with the next sequence (a continuation arriving before the release comes back
    shortly)."""
    state = run.suspend()
    queue.send(job.id, job.seq + 1, delay)
    _save(job, checkpoint=state, lease_id=None, lease_until=None, seq=job.seq + 1)


def _complete(job: Job, kind: Kind, processed: int, result: dict[str, Any]) -> None:
    final: dict[str, Any] = {
        "status": COMPLETED, "finished_at": clock.iso(), "result": result,
        "processed_rows": processed, "total_rows": processed, "checkpoint": None,
        "lease_id": None, "lease_until": None}
    try:
        done = repo.write(job, events=kind.events(replace(job, **final)), **final)
    except LostRace:
        current = repo.get(job.id)  # cancelled as it finished: its output goes too
        if current is not None and current.status == CANCELLED and current.cleanup:
            clean(current)
        return
    _finished(kind, done)


def _finished(kind: Kind, job: Job) -> None:
    """The kind's word after the final status (a job waiting on this one is told)."""
    try:
        kind.finished(job)
    except Exception:  # noqa: BLE001 - the waiting job's own polling still finds out
        from chalicelib.core.logging import get_logger

        get_logger().exception("job finished hook failed", extra={"jobId": job.id})


def fail(job: Job, code: str, message: str) -> Job | None:
    """Removes the partial output, then marks the job failed with its events. A job
    cancelled meanwhile stays cancelled."""
    kind = kinds.of(job)
    kind.cleanup(job)
    error = {"code": code, "message": message, "at": clock.iso()}
    wrote: list[Job] = []

    def attempt() -> Job | None:
        current = repo.get(job.id)
        if current is None or (current.status in FINAL and not current.cleanup):
            return current
        if current.status == CANCELLED:
            return repo.write(current, cleanup=False, lease_id=None, lease_until=None)
        final: dict[str, Any] = {
            "status": FAILED, "finished_at": clock.iso(), "errors": [*current.errors, error],
            "checkpoint": None, "cleanup": False, "lease_id": None, "lease_until": None}
        wrote[:] = [repo.write(current, events=kind.events(replace(current, **final)),
                               **final)]
        return wrote[0]

    failed = optimistic.retry(attempt)
    if wrote:
        _finished(kind, wrote[0])
    return failed


def clean(job: Job) -> Job | None:
    """A cancelled (or failed) job's partial output removed, the lease released."""
    kinds.of(job).cleanup(job)

    def attempt() -> Job | None:
        current = repo.get(job.id)
        if current is None or not current.cleanup:
            return current
        return repo.write(current, cleanup=False, lease_id=None, lease_until=None)

    return optimistic.retry(attempt)


def _setback(job: Job) -> bool:
    """After an unexpected error: counts it and releases the lease so the message may
    come back (True), or fails the job after MAX_ATTEMPTS (False)."""
    def attempt() -> bool:
        current = repo.get(job.id)
        if current is None or current.status in FINAL or current.lease_id != job.lease_id:
            return True
        if current.attempts + 1 >= MAX_ATTEMPTS:
            return False
        repo.write(current, attempts=current.attempts + 1, lease_id=None, lease_until=None)
        return True

    if optimistic.retry(attempt):
        return True
    fail(job, "INTERNAL_ERROR", f"The job failed {MAX_ATTEMPTS} times; see the logs.")
    return False
