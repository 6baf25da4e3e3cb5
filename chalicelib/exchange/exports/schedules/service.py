"""Export schedules as the API offers them: create, list, see, change (pause, resume),
delete.

A schedule holds an export exactly as POST /api/v1/exports takes it, checked as that
route checks it (exports/service.checked_params: its creator may run it), and the
scopes of the principal that set it: the ceiling of every run, which the job engine
checks within the owner's current scopes at every invocation. Whoever changes what it
exports, or resumes it, passes the same checks and becomes that principal.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.events import audit
from chalicelib.exchange.exports import service as exports
from chalicelib.exchange.exports.models import CreateExport
from chalicelib.exchange.exports.schedules import repo, timing
from chalicelib.exchange.exports.schedules.models import (
    CreateSchedule,
    ListSchedules,
    UpdateSchedule,
)
from chalicelib.exchange.exports.schedules.repo import Schedule
from chalicelib.store import optimistic
from chalicelib.store import table as store
from chalicelib.store.optimistic import LostRace

ID_PREFIX = "xsc"
TARGET = "export_schedule"
MAX_PER_OWNER = 25
_EXPORT_FIELDS = ("entity", "format", "fields", "filters", "options")


def create(actor: Principal, body: CreateSchedule) -> Schedule:
    params = exports.checked_params(actor, body.export())
    now = clock.now()
    expression = " ".join(body.schedule.split())
    stamp = clock.iso(now)
    schedule = Schedule(
        id=ids.new_id(ID_PREFIX), owner=actor.owner, sandbox=actor.sandbox, name=body.name,
        schedule=expression, timezone=body.timezone, export=params, **_ceiling(actor),
        created_at=stamp, created_by=actor.describe(), updated_at=stamp,
        next_run_at=first_run(expression, body.timezone, now))
    entry = audit.entry(actor, f"{TARGET}.create", TARGET, schedule.id, _audited(schedule))
    try:
        store.transact([*repo.create_ops(schedule, MAX_PER_OWNER), audit.put_op(entry)])
    except store.TransactionConflict as exc:
        if exc.reasons[1:2] == ["ConditionalCheckFailed"]:
            raise Conflict(f"An owner may hold at most {MAX_PER_OWNER} export schedules; "
                           "delete one it no longer needs.") from exc
        raise Conflict("The schedule could not be created; try again.") from exc
    return schedule


def first_run(expression: str, tz: str, now: float) -> str:
    """The first run from now; 422 for an expression or zone that no longer works (a
    schedule paused for it is resumed with a new one, not as it is)."""
    from zoneinfo import ZoneInfoNotFoundError

    try:
        return clock.iso(timing.next_run(timing.parse(expression), tz, now))
    except (timing.Invalid, ZoneInfoNotFoundError) as exc:
        raise Unprocessable(f"This schedule cannot run: {exc}", details=[
            {"field": "schedule", "message": "send a new schedule or timezone"}]) from exc


def _ceiling(actor: Principal) -> dict[str, Any]:
    """What the runs may do at most: the actor's scopes, and (an API key) its expiry."""
    expires = actor.restrictions.get("expiresAtEpoch") if actor.kind == "api_key" else None
    return {"scopes": tuple(sorted(actor.scopes)), "run_as": actor.describe(),
            "run_as_expires_at": int(expires) if expires else None}


def get(actor: Principal, schedule_id: str) -> Schedule:
    schedule = repo.get(schedule_id)
    if (schedule is None or not actor.can_see(schedule.owner)
            or (actor.sandbox and not schedule.sandbox)):
        raise NotFound(f"No export schedule with id {schedule_id}.")
    return schedule


def listing(actor: Principal, query: ListSchedules) -> tuple[list[Schedule], str | None]:
    """The actor's owner's schedules (an admin: everyone's), newest first."""
    def keep(s: Schedule) -> bool:
        return ((not actor.sandbox or s.sandbox)
                and (query.entity is None or s.export.get("entity") == query.entity)
                and (query.paused is None or s.paused == query.paused))

    filtered = actor.sandbox or query.entity is not None or query.paused is not None
    return repo.listing(None if actor.is_admin else actor.owner, cursor=query.cursor,
                        limit=query.per_page, keep=keep if filtered else None)


def update(actor: Principal, schedule_id: str, body: UpdateSchedule) -> Schedule:
    given = body.model_fields_set
    if not given:
        raise Unprocessable("Give at least one field to change.",
                            details=[{"field": "body", "message": "no fields"}])

    def attempt() -> Schedule:
        current = get(actor, schedule_id)
        changes = _changes(actor, current, body, given)
        if not changes:
            return current
        changes["updated_at"] = clock.iso()
        ops = [repo.update_op(current, changes),
               *repo.moved_due(current, changes.get("next_run_at", current.next_run_at)),
               audit.put_op(audit.entry(actor, f"{TARGET}.update", TARGET, current.id,
                                        _audited_changes(changes), owner=current.owner))]
        try:
            store.transact(ops)
        except store.TransactionConflict as exc:
            raise LostRace from exc
        return replace(current, version=current.version + 1, **changes)

    return optimistic.retry(attempt, conflict="The schedule changed concurrently; try again.")


def _changes(actor: Principal, s: Schedule, body: UpdateSchedule,
             given: set[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    resuming = body.paused is False and s.paused
    pausing = body.paused is True and not s.paused
    if given & set(_EXPORT_FIELDS) or resuming:
        # What it exports, or that it runs again, is set by this actor: checked as an
        # export of theirs, and their scopes become the ceiling.
        changes["export"] = exports.checked_params(actor, _merged(s, body, given))
        changes.update(_ceiling(actor))
    if "name" in given:
        changes["name"] = body.name
    expression = " ".join(body.schedule.split()) if body.schedule else s.schedule
    tz = body.timezone or s.timezone
    moved = expression != s.schedule or tz != s.timezone
    if moved:
        changes.update(schedule=expression, timezone=tz)
    if pausing:
        changes.update(paused=True, paused_at=clock.iso(), next_run_at=None,
                       paused_reason=f"Paused by {actor.describe()}.")
    elif resuming:
        changes.update(paused=False, paused_at=None, paused_reason=None)
    if not (s.paused and not resuming) and not pausing and (moved or resuming):
        changes["next_run_at"] = first_run(expression, tz, clock.now())
    return {k: v for k, v in changes.items() if getattr(s, k) != v or k == "export"}


def _merged(s: Schedule, body: UpdateSchedule, given: set[str]) -> CreateExport:
    stored = dict(s.export)
    merged: dict[str, Any] = {k: stored.get(k) for k in _EXPORT_FIELDS}
    for name in _EXPORT_FIELDS:
        if name in given:
            merged[name] = getattr(body, name)
    if merged["format"] is None:
        merged["format"] = stored.get("format", "csv")
    if merged["entity"] is None:
        merged["entity"] = stored["entity"]
    options = merged["options"]
    merged["options"] = options.model_dump() if hasattr(options, "model_dump") else options
    merged["filters"] = merged["filters"] or None
    return CreateExport.model_validate(merged)


def delete(actor: Principal, schedule_id: str) -> None:
    def attempt() -> None:
        current = get(actor, schedule_id)
        entry = audit.entry(actor, f"{TARGET}.delete", TARGET, current.id, {},
                            owner=current.owner)
        try:
            store.transact([*repo.delete_ops(current), audit.put_op(entry)])
        except store.TransactionConflict as exc:
            raise LostRace from exc

    optimistic.retry(attempt, conflict="The schedule changed concurrently; try again.")


def _audited(s: Schedule) -> dict[str, Any]:
    return {"schedule": s.schedule, "timezone": s.timezone, "name": s.name, **s.export}


def _audited_changes(changes: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in changes.items() if k in (
        "name", "schedule", "timezone", "paused", "paused_reason")}
    if "export" in changes:
        shown.update(changes["export"])
    return shown


def present(s: Schedule, version: str = "v1") -> dict[str, Any]:
    """A schedule as the API answers it."""
    base = f"/api/{version}/exports/schedules/{s.id}"
    links = {"self": base}
    if s.last_export_id:
        links["lastExport"] = f"/api/{version}/exports/{s.last_export_id}"
    export = s.export
    return {
        "id": s.id, "name": s.name, "entity": export.get("entity"),
        "format": export.get("format"), "fields": export.get("fields"),
        "filters": export.get("filters") or {}, "options": export.get("options") or {},
        "schedule": s.schedule, "timezone": s.timezone, "paused": s.paused,
        "pausedReason": s.paused_reason, "pausedAt": s.paused_at,
        "nextRunAt": s.next_run_at, "lastRunAt": s.last_run_at,
        "lastExportId": s.last_export_id, "runs": s.runs, "skippedRuns": s.skipped_runs,
        "runAs": s.run_as, "createdAt": s.created_at, "createdBy": s.created_by,
        "updatedAt": s.updated_at, "owner": s.owner, "sandbox": s.sandbox, "links": links}
