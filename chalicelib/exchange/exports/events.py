"""The exports' platform events, sent to the export's owner's webhooks only; read with
`exports:run`. Registered in the catalog at import (the export routes import this)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from chalicelib.events import catalog, outbox
from chalicelib.jobs.model import COMPLETED, FAILED, Job

SCOPE = "exports:run"


class _Data(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)


class ExportError(_Data):
    code: str = Field(description="The error code, as the API's errors use them.")
    message: str


class ExportCompleted(_Data):
    export_id: str
    entity: str
    format: str
    rows: int
    bytes: int = Field(description="The file's size.")
    created_at: str
    finished_at: str
    download: str = Field(description="The API path that answers a download link.")


class ExportFailed(_Data):
    export_id: str
    entity: str
    format: str
    processed_rows: int = Field(description="Rows read before it failed.")
    error: ExportError
    created_at: str
    finished_at: str


_T = "2026-01-01T00:00:00.000Z"
_E = "exp_01example"

for _name, _desc, _model, _example in (
    ("export.completed", "An export finished; its file can be downloaded.", ExportCompleted,
     {"exportId": _E, "entity": "products", "format": "csv", "rows": 1200, "bytes": 183004,
      "createdAt": _T, "finishedAt": "2026-01-01T00:00:09.000Z",
      "download": f"/api/v2/exports/{_E}/download"}),
    ("export.failed", "An export failed; its partial output was removed.", ExportFailed,
     {"exportId": _E, "entity": "products", "format": "xlsx", "processedRows": 4000,
      "error": {"code": "AUTHORIZATION_ERROR",
                "message": "The job's owner no longer holds products:read."},
      "createdAt": _T, "finishedAt": "2026-01-01T00:00:09.000Z"}),
):
    if _name not in catalog.CATALOG:
        catalog.register(_name, _desc, _model, _example, read_scope=SCOPE, platform=True)


def of(job: Job) -> list[dict[str, Any]]:
    """The event a job's final status raises (none for a cancel)."""
    common = {"exportId": job.id, "entity": job.params.get("entity", ""),
              "format": job.params.get("format", ""), "createdAt": job.created_at,
              "finishedAt": job.finished_at or job.created_at}
    if job.status == COMPLETED:
        result = job.result or {}
        name, data = "export.completed", {
            **common, "rows": int(result.get("rows", 0)), "bytes": int(result.get("bytes", 0)),
            "download": f"/api/v2/exports/{job.id}/download"}
    elif job.status == FAILED:
        last = job.errors[-1] if job.errors else {"code": "INTERNAL_ERROR", "message": ""}
        name, data = "export.failed", {
            **common, "processedRows": job.processed_rows,
            "error": {"code": last["code"], "message": last["message"]}}
    else:
        return []
    return [outbox.new_event(name, catalog.payload(name, data), owner=job.owner,
                             sandbox=job.sandbox)]
