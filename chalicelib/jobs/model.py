"""A job as the engine and the capabilities see it (repo.py maps it to its item)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PENDING, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "pending", "running", "completed", "failed", "cancelled")
STATUSES = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED)
ACTIVE = (PENDING, RUNNING)
FINAL = (COMPLETED, FAILED, CANCELLED)


@dataclass(frozen=True)
class Job:
    id: str
    kind: str                 # export (later import, sync, backup)
    owner: str                # the user on whose behalf it runs
    sandbox: bool             # made by a sandbox principal: works on sandbox data only
    status: str
    created_at: str
    created_by: str           # the principal, "kind:id"
    # The creating principal's scopes: the ceiling of what the job may do, checked within
    # its owner's current scopes at every invocation.
    scopes: tuple[str, ...]
    params: dict[str, Any]    # the kind's request (an export: entity, format, fields...)
    processed_rows: int = 0
    total_rows: int | None = None
    started_at: str | None = None
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Where the work stands, as the kind saved it (cursor and its own state); None before
    # the first checkpoint.
    checkpoint: dict[str, Any] | None = None
    # The worker holding the job: no other runs it until lease_until (epoch seconds).
    lease_id: str | None = None
    lease_until: float | None = None
    # The message sequence the job expects: a message with a lower one is stale.
    seq: int = 0
    cleanup: bool = False     # partial output still to remove (cancelled or failed)
    attempts: int = 0         # invocations that ended in an unexpected error
    version: int = 1

    @property
    def percentage(self) -> float | None:
        if self.status == COMPLETED:
            return 100.0
        if not self.total_rows:
            return None
        return round(min(100.0, 100.0 * self.processed_rows / self.total_rows), 1)

    def progress(self) -> dict[str, Any]:
        return {"processedRows": self.processed_rows, "totalRows": self.total_rows,
                "percentage": self.percentage}
