"""Job items: the only module that spells their keys.

  PK = JOB#<id>, SK = JOB
  GSI1PK = OWNER#<owner>#JOB#<kind>, GSI1SK = <createdAt>#<id>   an owner's jobs of a kind
  GSI2PK = JOB#<kind>,               GSI2SK = <createdAt>#<id>   every job of a kind (admin)
  id, kind, owner, sandbox, status, createdAt, createdBy, scopes, processedRows,
  totalRows, startedAt, finishedAt, leaseId, leaseUntil, seq, cleanup, attempts, version,
  ttl; params, result, errors and checkpoint as JSON text (a kind's own shapes, floats
  included, which DynamoDB's number type would not take as they are).

Every write is conditional on the version read (`write`): a lost race raises LostRace,
and the caller reads again (store.optimistic.retry) or stops (a worker whose job was
cancelled meanwhile).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib.core import clock
from chalicelib.events import outbox
from chalicelib.jobs.model import Job
from chalicelib.store import table as store
from chalicelib.store.optimistic import LostRace

SK = "JOB"
KEEP_DAYS = 365  # the history outlives the files (their retention: the kind's)
_JSON = {"params": "params", "result": "result", "errors": "errors",
         "checkpoint": "checkpoint"}
# Job field -> item attribute, for the plain ones.
_ATTRS = {"status": "status", "processed_rows": "processedRows", "total_rows": "totalRows",
          "started_at": "startedAt", "finished_at": "finishedAt", "lease_id": "leaseId",
          "lease_until": "leaseUntil", "seq": "seq", "cleanup": "cleanup",
          "attempts": "attempts"}


def _pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def _listing(kind: str) -> str:
    return f"JOB#{kind}"


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def of_item(item: dict[str, Any]) -> Job:
    def parsed(name: str, default: Any) -> Any:
        raw = item.get(name)
        return json.loads(raw) if isinstance(raw, str) else default

    until = item.get("leaseUntil")
    return Job(
        id=str(item["id"]), kind=str(item["kind"]), owner=str(item.get("owner", "")),
        sandbox=bool(item.get("sandbox")), status=str(item["status"]),
        created_at=str(item["createdAt"]), created_by=str(item.get("createdBy", "")),
        scopes=tuple(item.get("scopes") or ()), params=parsed("params", {}),
        processed_rows=int(item.get("processedRows", 0)),
        total_rows=None if item.get("totalRows") is None else int(item["totalRows"]),
        started_at=item.get("startedAt"), finished_at=item.get("finishedAt"),
        result=parsed("result", None), errors=parsed("errors", []),
        checkpoint=parsed("checkpoint", None), lease_id=item.get("leaseId"),
        lease_until=None if until is None else float(until), seq=int(item.get("seq", 0)),
        cleanup=bool(item.get("cleanup")), attempts=int(item.get("attempts", 0)),
        version=int(item.get("version", 1)))


def new_item(job: Job) -> dict[str, Any]:
    listed = f"{job.created_at}#{job.id}"
    item: dict[str, Any] = {
        "PK": _pk(job.id), "SK": SK,
        "GSI1PK": f"OWNER#{job.owner}#{_listing(job.kind)}", "GSI1SK": listed,
        "GSI2PK": _listing(job.kind), "GSI2SK": listed,
        "id": job.id, "kind": job.kind, "owner": job.owner, "sandbox": job.sandbox,
        "status": job.status, "createdAt": job.created_at, "createdBy": job.created_by,
        "scopes": sorted(job.scopes), "params": _encode(job.params),
        "processedRows": job.processed_rows, "errors": _encode(job.errors),
        "seq": job.seq, "cleanup": job.cleanup, "attempts": job.attempts,
        "version": job.version, "ttl": clock.now_int() + KEEP_DAYS * 86400}
    if job.total_rows is not None:
        item["totalRows"] = job.total_rows
    return item


def create_op(job: Job) -> dict[str, Any]:
    """The new job's put (for a transaction with its audit entry)."""
    return {"Put": {"Item": new_item(job), "ConditionExpression": "attribute_not_exists(PK)"}}


def get(job_id: str) -> Job | None:
    item = store.get(_pk(job_id), SK, consistent=True)
    return None if item is None else of_item(item)


def listing(kind: str, owner: str | None, *, cursor: str | None, limit: int,
            keep: Callable[[Job], bool] | None = None) -> tuple[list[Job], str | None]:
    """One owner's jobs of a kind (everyone's: owner None), newest first."""
    item_filter = None if keep is None else (lambda item: keep(of_item(item)))
    items, next_cursor = store.owned_page(_listing(kind), owner, cursor=cursor, limit=limit,
                                          item_filter=item_filter)
    return [of_item(i) for i in items], next_cursor


def write(job: Job, events: list[dict[str, Any]] | None = None, **changes: Any) -> Job:
    """Sets the given Job fields (None removes one) if the job is still at the version
    read; with `events`, in one transaction with them (the outbox). Answers the job as
    written; LostRace if anyone wrote since it was read."""
    sets: dict[str, Any] = {}
    removes: list[str] = []
    for name, value in changes.items():
        attr = _JSON.get(name) or _ATTRS[name]
        if value is None and name not in _JSON:
            removes.append(attr)
        else:
            sets[attr] = _encode(value) if name in _JSON else value
    sets["version"] = job.version + 1
    condition, values = "version = :v", {":v": job.version}
    if events:
        body = store.update_request(_pk(job.id), SK, sets, remove=tuple(removes),
                                    condition=condition, values=values)
        try:
            outbox.transact([{"Update": body}], events)
        except store.TransactionConflict as exc:
            raise LostRace from exc
    elif store.update(_pk(job.id), SK, sets, remove=tuple(removes), condition=condition,
                      values=values, returns=False) is None:
        raise LostRace
    return replace(job, version=job.version + 1, **changes)
