"""The minute's tick: every due schedule starts its export once.

The due entries up to now are read (only due schedules are), a page of MAX_PER_TICK
at a time, then their schedules (consistently); pages follow one another until nothing
is due or the tick's time budget is spent (what is left starts in the next minute's
tick, late but once). For each, one transaction moves nextRunAt to the next slot after now,
on condition that it still says the due time read and the schedule is not paused, and
writes the export job with its audit entry; then the job's message goes out. Two ticks
racing both try; the second's condition fails and it starts nothing. A tick that did
not run for a while starts each schedule once, whose next run is then the next slot
still to come.

A run is the creator's export: the job carries the schedule's owner, namespace and
ceiling scopes, and the job engine checks them within the owner's current scopes. When
the owner no longer holds what the export needs, the run still starts (the engine fails
it, raising export.failed to the owner's webhooks) and the schedule pauses itself with
the reason. A run whose previous one is still going is skipped (skippedRuns counts
them) unless that one looks stuck (STUCK_AFTER). A schedule whose expression or time
zone no longer reads (a time zone gone from a newer tzdata) pauses with the reason,
rather than failing every minute.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from chalicelib.auth.owners import ended
from chalicelib.core import clock
from chalicelib.core.scopes import allows, within
from chalicelib.events import audit
from chalicelib.exchange.exports import kind as export_kind
from chalicelib.exchange.exports.schedules import repo, timing
from chalicelib.exchange.exports.schedules.repo import Schedule
from chalicelib.exchange.exports.schedules.service import TARGET
from chalicelib.jobs import kinds
from chalicelib.jobs import repo as job_repo
from chalicelib.jobs import service as jobs
from chalicelib.jobs.model import ACTIVE
from chalicelib.store import table as store

MAX_PER_TICK = 200        # due entries read (and their schedules) per page
TICK_BUDGET = 40.0        # seconds a tick starts runs for at most: within its minute
RESERVE = 10.0            # seconds of the invocation left for what follows (sync tick)
STUCK_AFTER = 6 * 3600    # an unfinished previous run older than this no longer blocks


def run_due(context: Any = None) -> dict[str, int]:
    """Starts what is due, page after page, within TICK_BUDGET and (`context`: the
    Lambda context) the invocation's remaining time less RESERVE; answers how many of
    each outcome (started, skipped, paused, raced, stray, error, and `pending` when the
    budget ran out with entries still due). A failure to read is logged: the next
    minute reads again."""
    from chalicelib.core.logging import get_logger

    budget = TICK_BUDGET
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        budget = min(budget, float(remaining()) / 1000 - RESERVE)
    try:
        return _run_due(time.monotonic() + budget)
    except Exception:  # noqa: BLE001 - the minute's other steps must not fail with it
        get_logger().exception("export schedules' tick failed")
        return {"error": 1}


def _run_due(deadline: float) -> dict[str, int]:
    now = clock.now()
    outcomes: Counter[str] = Counter()
    cursor: str | None = None
    while True:
        entries, cursor = repo.due(clock.iso(now), MAX_PER_TICK, cursor)
        _run_page(entries, now, outcomes)
        if cursor is None:
            break
        if time.monotonic() >= deadline:
            outcomes["pending"] += 1   # the next tick goes on
            break
    return dict(outcomes)


def _run_page(entries: list[tuple[str, str]], now: float, outcomes: Counter[str]) -> None:
    from chalicelib.auth.owners import current_scopes
    from chalicelib.core.logging import get_logger

    if not entries:
        return
    found = repo.get_many(list(dict.fromkeys(sid for sid, _ in entries)))
    rights = current_scopes({s.owner for s in found.values()})
    for schedule_id, at in entries:
        schedule = found.get(schedule_id)
        if schedule is None or schedule.paused or schedule.next_run_at != at:
            repo.drop_due(schedule_id, at)  # its schedule moved on, paused or went
            outcomes["stray"] += 1
            continue
        try:
            outcomes[fire(schedule, at, now, rights.get(schedule.owner, frozenset()))] += 1
        except Exception:  # noqa: BLE001 - logged; the others still run, this one next tick
            get_logger().exception("export schedule failed to start",
                                   extra={"scheduleId": schedule_id})
            outcomes["error"] += 1


def fire(s: Schedule, at: str, now: float, owner_scopes: frozenset[str]) -> str:
    """One due run of a schedule read at version and due time `at`."""
    slot = clock.parse_iso(at)
    stamp = clock.iso(now)
    try:
        following = clock.iso(timing.next_run(timing.parse(s.schedule), s.timezone,
                                              max(now, slot), previous=slot))
    except (timing.Invalid, ZoneInfoNotFoundError) as exc:
        # Valid when set, no longer (e.g. a tzdata without that zone): it would fail
        # every minute; paused, its owner changes it and resumes it.
        return _pause(s, at, stamp, f"Its schedule {s.schedule!r} in time zone "
                      f"{s.timezone!r} no longer reads ({exc}); change it, then resume it.",
                      [])
    changes: dict[str, Any] = {"next_run_at": following}
    if s.run_as_expires_at is not None and s.run_as_expires_at <= now:
        return _pause(s, at, stamp, f"The API key that set it ({s.run_as}) expired.", [])
    gone = ended(s.run_as)   # revoked, deleted, disabled: what it set up ends with it
    if gone is not None:
        return _pause(s, at, stamp, f"The credential that set it ({s.run_as}) is {gone}.", [])
    if _previous_running(s, now):
        changes["skipped_runs"] = s.skipped_runs + 1
        if not _commit(s, at, changes, []):
            return "raced"
        return "skipped"
    params = {**s.export, "scheduleId": s.id}
    job = jobs.new(export_kind.KIND.name, export_kind.ID_PREFIX, params, owner=s.owner,
                   sandbox=s.sandbox, created_by=s.run_as, scopes=s.scopes)
    run_ops = [job_repo.create_op(job), audit.put_op(audit.entry(
        None, f"{job.kind}.create", job.kind, job.id, params, owner=s.owner))]
    ran = {"last_run_at": stamp, "last_export_id": job.id, "runs": s.runs + 1}
    missing = _missing(s, job, owner_scopes)
    if missing:
        # The engine fails the run (export.failed tells the owner); no further runs.
        outcome = _pause(s, at, stamp, "Its owner (or the principal that set it) no longer "
                         f"holds {', '.join(missing)}.", run_ops, ran)
        if outcome == "raced":
            return outcome
    elif _commit(s, at, {**changes, **ran}, run_ops):
        outcome = "started"
    else:
        return "raced"
    try:
        jobs.enqueue(job)
    except Exception:  # noqa: BLE001 - the job is marked failed; the schedule goes on
        from chalicelib.core.logging import get_logger

        get_logger().exception("scheduled export not queued", extra={"scheduleId": s.id})
    return outcome


def _missing(s: Schedule, job: Any, owner_scopes: frozenset[str]) -> list[str]:
    held = within(s.scopes, owner_scopes)
    return [x for x in kinds.of(job).required_scopes(job) if not allows(held, [x])]


def _previous_running(s: Schedule, now: float) -> bool:
    if not s.last_export_id:
        return False
    last = job_repo.get(s.last_export_id)
    return (last is not None and last.status in ACTIVE
            and clock.parse_iso(last.created_at) > now - STUCK_AFTER)


def _pause(s: Schedule, at: str, stamp: str, reason: str, run_ops: list[dict[str, Any]],
           ran: dict[str, Any] | None = None) -> str:
    changes = {**(ran or {}), "paused": True, "paused_at": stamp, "paused_reason": reason,
               "next_run_at": None}
    entry = audit.entry(None, f"{TARGET}.pause", TARGET, s.id, {"reason": reason},
                        owner=s.owner)
    if not _commit(s, at, changes, [*run_ops, audit.put_op(entry)]):
        return "raced"
    return "paused"


def _commit(s: Schedule, at: str, changes: dict[str, Any],
            more: list[dict[str, Any]]) -> bool:
    """The schedule's change (still due at `at`, not paused), its due entry moved, and
    `more`, in one transaction; False when another tick or a change came first."""
    ops = [repo.update_op(s, changes, due_at=at), *repo.moved_due(s, changes["next_run_at"]),
           *more]
    try:
        store.transact(ops)
    except store.TransactionConflict:
        return False
    return True
