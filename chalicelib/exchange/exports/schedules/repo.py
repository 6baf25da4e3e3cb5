"""Export schedules' items: the only module that spells their keys.

Schedule
  PK = EXPSCHED#<id> (id "xsc_..."), SK = EXPSCHED
  GSI1PK = OWNER#<owner>#EXPSCHED, GSI1SK = <createdAt>#<id>   an owner's schedules
  GSI2PK = EXPSCHED,               GSI2SK = <createdAt>#<id>   every schedule (admin)
  id, owner, sandbox, name, schedule, timezone, export (JSON text: the export job's
  params as exports/service.checked_params answers them), scopes (the ceiling of its
  runs: the principal's who last set what it runs), runAs (that principal, "kind:id"),
  runAsExpiresAt (epoch seconds: that API key's expiry, if any), paused (bool),
  pausedReason, pausedAt, nextRunAt (RFC 3339; absent while paused), lastRunAt,
  lastExportId, runs, skippedRuns, createdAt, createdBy, updatedAt, version (bumped by
  every write, the tick's too: optimistic locking).

Due entry (one per unpaused schedule, written in the same transactions as it)
  PK = EXPSCHED#DUE, SK = <nextRunAt>#<id>; scheduleId
  The tick reads this partition up to now, a page at a time: only due schedules are
  read. The partition itself takes about 1,000 writes a second, two per run (some
  30,000 runs a minute); what bounds a minute's runs is the tick (tick.py: one run
  after another, for its time budget), the rest start late, in the next tick.

Count (the owner's schedules, capped in the create's transaction)
  PK = EXPSCHED#OWNER#<owner>, SK = COUNT; n
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.store import table as store

SK = "EXPSCHED"
DUE_PK = "EXPSCHED#DUE"


@dataclass(frozen=True)
class Schedule:
    id: str
    owner: str
    sandbox: bool
    name: str | None
    schedule: str
    timezone: str
    export: dict[str, Any]
    scopes: tuple[str, ...]
    run_as: str
    created_at: str
    created_by: str
    updated_at: str
    paused: bool = False
    paused_reason: str | None = None
    paused_at: str | None = None
    next_run_at: str | None = None
    last_run_at: str | None = None
    last_export_id: str | None = None
    runs: int = 0
    skipped_runs: int = 0
    run_as_expires_at: int | None = None
    version: int = 1


# Schedule field -> item attribute
_ATTRS = {"name": "name", "schedule": "schedule", "timezone": "timezone", "export": "export",
          "scopes": "scopes", "run_as": "runAs", "updated_at": "updatedAt",
          "paused": "paused", "paused_reason": "pausedReason", "paused_at": "pausedAt",
          "next_run_at": "nextRunAt", "last_run_at": "lastRunAt",
          "last_export_id": "lastExportId", "runs": "runs", "skipped_runs": "skippedRuns",
          "run_as_expires_at": "runAsExpiresAt"}


def _pk(schedule_id: str) -> str:
    return f"EXPSCHED#{schedule_id}"


def _count_key(owner: str) -> dict[str, str]:
    return {"PK": f"EXPSCHED#OWNER#{owner}", "SK": "COUNT"}


def of_item(item: dict[str, Any]) -> Schedule:
    expires = item.get("runAsExpiresAt")
    return Schedule(
        id=str(item["id"]), owner=str(item["owner"]), sandbox=bool(item.get("sandbox")),
        name=item.get("name"), schedule=str(item["schedule"]),
        timezone=str(item.get("timezone") or "UTC"), export=json.loads(item["export"]),
        scopes=tuple(item.get("scopes") or ()), run_as=str(item.get("runAs", "")),
        created_at=str(item["createdAt"]), created_by=str(item.get("createdBy", "")),
        updated_at=str(item.get("updatedAt") or item["createdAt"]),
        paused=bool(item.get("paused")), paused_reason=item.get("pausedReason"),
        paused_at=item.get("pausedAt"), next_run_at=item.get("nextRunAt"),
        last_run_at=item.get("lastRunAt"), last_export_id=item.get("lastExportId"),
        runs=int(item.get("runs", 0)), skipped_runs=int(item.get("skippedRuns", 0)),
        run_as_expires_at=None if expires is None else int(expires),
        version=int(item.get("version", 1)))


def new_item(s: Schedule) -> dict[str, Any]:
    listed = f"{s.created_at}#{s.id}"
    item: dict[str, Any] = {
        "PK": _pk(s.id), "SK": SK, "GSI1PK": f"OWNER#{s.owner}#{SK}", "GSI1SK": listed,
        "GSI2PK": SK, "GSI2SK": listed, "id": s.id, "owner": s.owner,
        "sandbox": s.sandbox, "createdAt": s.created_at, "createdBy": s.created_by,
        "version": s.version}
    for name, attr in _ATTRS.items():
        value = getattr(s, name)
        if value is not None:
            item[attr] = _stored(name, value)
    return item


def _stored(name: str, value: Any) -> Any:
    if name == "export":
        return json.dumps(value, separators=(",", ":"))
    if name == "scopes":
        return sorted(value)
    return value


def get(schedule_id: str) -> Schedule | None:
    item = store.get(_pk(schedule_id), SK, consistent=True) if schedule_id else None
    return None if item is None else of_item(item)


def get_many(ids: list[str]) -> dict[str, Schedule]:
    found = store.batch_get([(_pk(i), SK) for i in ids], consistent=True)
    return {str(item["id"]): of_item(item) for item in found.values()}


def listing(owner: str | None, *, cursor: str | None, limit: int,
            keep: Any = None) -> tuple[list[Schedule], str | None]:
    """One owner's schedules (everyone's: owner None), newest first."""
    item_filter = None if keep is None else (lambda item: keep(of_item(item)))
    items, next_cursor = store.owned_page(SK, owner, cursor=cursor, limit=limit,
                                          item_filter=item_filter)
    return [of_item(i) for i in items], next_cursor


def due(now_iso: str, limit: int, cursor: str | None = None
        ) -> tuple[list[tuple[str, str]], str | None]:
    """(schedule id, due time) of up to `limit` due entries up to now, oldest first, after
    `cursor` (the previous page's: an entry left due, its run failing, is not read again);
    and the cursor after them (None: no more)."""
    items, after = store.query_page(DUE_PK, cursor=cursor, limit=limit, forward=True,
                                    sk_between=("0", f"{now_iso}#~"))
    return [(str(i["scheduleId"]), str(i["SK"]).split("#", 1)[0]) for i in items], after


# -- transaction ops ------------------------------------------------------------------

def create_ops(s: Schedule, max_per_owner: int) -> list[dict[str, Any]]:
    """The schedule, its due entry and its count on the owner (failing at the cap)."""
    ops: list[dict[str, Any]] = [
        {"Put": {"Item": new_item(s), "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Update": {"Key": _count_key(s.owner), "UpdateExpression": "ADD #n :one",
                    "ConditionExpression": "attribute_not_exists(#n) OR #n < :cap",
                    "ExpressionAttributeNames": {"#n": "n"},
                    "ExpressionAttributeValues": {":one": 1, ":cap": max_per_owner}}}]
    if s.next_run_at and not s.paused:
        ops.append(due_put(s.id, s.next_run_at))
    return ops


def update_op(s: Schedule, changes: dict[str, Any], *, due_at: str | None = None
              ) -> dict[str, Any]:
    """Sets the given Schedule fields (None removes one) if the schedule is still at the
    version read, and (`due_at`) still due then and not paused (the tick's condition)."""
    sets: dict[str, Any] = {"version": s.version + 1}
    removes: list[str] = []
    for name, value in changes.items():
        if value is None:
            removes.append(_ATTRS[name])
        else:
            sets[_ATTRS[name]] = _stored(name, value)
    condition = "#ver = :seen"
    values: dict[str, Any] = {":seen": s.version}
    names = {"#ver": "version"}
    if due_at is not None:
        condition += " AND #next = :due AND #paused = :no"
        values.update({":due": due_at, ":no": False})
        names.update({"#next": "nextRunAt", "#paused": "paused"})
    return {"Update": store.update_request(_pk(s.id), SK, sets, remove=tuple(removes),
                                           condition=condition, values=values, names=names)}


def delete_ops(s: Schedule) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = [
        {"Delete": {"Key": {"PK": _pk(s.id), "SK": SK},
                    "ConditionExpression": "#ver = :seen",
                    "ExpressionAttributeNames": {"#ver": "version"},
                    "ExpressionAttributeValues": {":seen": s.version}}},
        {"Update": {"Key": _count_key(s.owner), "UpdateExpression": "ADD #n :minus",
                    "ExpressionAttributeNames": {"#n": "n"},
                    "ExpressionAttributeValues": {":minus": -1}}}]
    if s.next_run_at:
        ops.append(due_delete(s.id, s.next_run_at))
    return ops


def due_put(schedule_id: str, at: str) -> dict[str, Any]:
    return {"Put": {"Item": {"PK": DUE_PK, "SK": f"{at}#{schedule_id}",
                             "scheduleId": schedule_id}}}


def due_delete(schedule_id: str, at: str) -> dict[str, Any]:
    return {"Delete": {"Key": {"PK": DUE_PK, "SK": f"{at}#{schedule_id}"}}}


def moved_due(s: Schedule, next_run_at: str | None) -> list[dict[str, Any]]:
    """The due entry's ops when the next run moves (None: no next run, paused)."""
    if next_run_at == s.next_run_at:
        return []
    ops = [due_delete(s.id, s.next_run_at)] if s.next_run_at else []
    if next_run_at:
        ops.append(due_put(s.id, next_run_at))
    return ops


def drop_due(schedule_id: str, at: str) -> None:
    """A due entry no schedule stands behind any more (its schedule moved or went)."""
    store.delete(DUE_PK, f"{at}#{schedule_id}")
