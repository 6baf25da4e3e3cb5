"""import.completed: sent to the import's owner's webhooks only; read with `imports:run`.
Registered in the catalog at import (the import routes import this)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from chalicelib.events import catalog, outbox
from chalicelib.jobs.model import COMPLETED, Job

SCOPE = "imports:run"
NAME = "import.completed"


class ImportCompleted(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)

    import_id: str
    entity: str
    dry_run: bool = Field(description="A dry run: rows checked, nothing written.")
    total_rows: int
    success_count: int = Field(description="Rows written (or that would be, in a dry run).")
    error_count: int = Field(description="Rows not written; see the error file.")
    created_count: int
    updated_count: int
    created_at: str
    finished_at: str
    errors: str = Field(description="The API path of the error file (row,field,message).")


_I = "imp_01example"
if NAME not in catalog.CATALOG:
    catalog.register(NAME, "An import finished: rows written, rows refused and why.",
                     ImportCompleted, {
                         "importId": _I, "entity": "products", "dryRun": False,
                         "totalRows": 1000, "successCount": 990, "errorCount": 10,
                         "createdCount": 900, "updatedCount": 90,
                         "createdAt": "2026-01-01T00:00:00.000Z",
                         "finishedAt": "2026-01-01T00:00:09.000Z",
                         "errors": f"/api/v2/imports/{_I}/errors"},
                     read_scope=SCOPE, platform=True)


def of(job: Job) -> list[dict[str, Any]]:
    """The event a completed import raises (none for a failed or cancelled one: the
    job's status says what happened)."""
    if job.status != COMPLETED:
        return []
    result = job.result or {}
    data = {"importId": job.id, "entity": job.params.get("entity", ""),
            "dryRun": bool(job.params.get("dryRun")),
            "totalRows": int(result.get("totalRows", 0)),
            "successCount": int(result.get("successCount", 0)),
            "errorCount": int(result.get("errorCount", 0)),
            "createdCount": int(result.get("createdCount", 0)),
            "updatedCount": int(result.get("updatedCount", 0)),
            "createdAt": job.created_at, "finishedAt": job.finished_at or job.created_at,
            "errors": f"/api/v2/imports/{job.id}/errors"}
    return [outbox.new_event(NAME, catalog.payload(NAME, data), owner=job.owner,
                             sandbox=job.sandbox)]
