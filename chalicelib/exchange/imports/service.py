"""Imports as the API offers them: create (a job, from the body or an upload), uploads,
list, see, the error file, cancel.

Creating one needs the entity's write scope besides `imports:run`; the job re-checks both
(within its owner's current scopes) at every invocation. A body (at most the edge's
body limit, 1 MiB) is inspected in the request, so a bad file answers 422 at once with
its problems and leaves nothing behind; a larger file, sent by upload, is inspected by
the job's first step (the request should not read a file of any size), and a bad one
fails the job before any row is written, its problems listed in it.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import (
    Conflict,
    Unprocessable,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.core.principal import Principal
from chalicelib.exchange import entities
from chalicelib.exchange.imports import kind as import_kind
from chalicelib.exchange.imports import rows, storage
from chalicelib.exchange.imports.models import CreateImport, ImportEnvelope, ListImports
from chalicelib.http.registry import validate
from chalicelib.jobs import service as jobs
from chalicelib.jobs.model import CANCELLED, Job

KIND = import_kind.KIND.name


def create(actor: Principal, query: CreateImport, body: bytes, media: str) -> Job:
    entity, dry_run, body = _unwrapped(query, body, media)
    res = entities.entity(entity)
    entities.require(actor, res.name, "write", "Importing")
    params: dict[str, Any] = {"entity": res.name, "dryRun": dry_run}
    if query.upload_id:
        if body.strip():
            raise Unprocessable("Send the file in the body or as an upload, not both.",
                                details=[{"field": "uploadId", "message": "and a body"}])
        params.update(_uploaded(actor, query.upload_id), inline=False)
    else:
        params.update(_inline(actor, res, body, media), inline=True)
    return jobs.submit(actor, KIND, import_kind.ID_PREFIX, params)


def _unwrapped(query: CreateImport, body: bytes, media: str) -> tuple[str, bool, bytes]:
    """The entity, dryRun and file of a request. A JSON object body is the Ayurveda
    brief's `{type, data, options?}`: its `data` is the file, `type` the entity (the
    query's, if given, must agree), `options.dryRun` as the query's."""
    entity, dry_run = query.entity, query.dry_run
    if media == "application/json" and body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        wrapped: ImportEnvelope = validate(ImportEnvelope, _object(body), body)
        named = wrapped.type.lower() if wrapped.type else None
        if entity and named and named != entity:
            raise Unprocessable(f"The body's type {named!r} is not the query's entity "
                                f"{entity!r}.", details=[{"field": "type",
                                                          "message": "differs from entity"}])
        entity = entity or named
        dry_run = dry_run or bool(wrapped.options and wrapped.options.dry_run)
        body = json.dumps(wrapped.data, ensure_ascii=False).encode()
    if not entity:
        raise ValidationFailed("Some query parameters are not valid.", details=[
            {"field": "entity", "message": "Field required", "type": "missing"}])
    return entity, dry_run, body


def _object(body: bytes) -> Any:
    """A JSON object body, parsed as every JSON body of the API is: malformed JSON is a
    400 as anywhere else, not a field error of the envelope's model."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("The request body is not valid JSON.",
                               details=[{"field": "body", "message": str(exc)[:200]}]
                               ) from exc


def _uploaded(actor: Principal, upload_id: str) -> dict[str, Any]:
    for fmt in storage.MEDIA:
        key = storage.upload_key(actor.owner, upload_id, fmt)
        size = storage.size_of(key)
        if size is not None:
            return {"format": fmt, "source": key, "size": size}
    raise Unprocessable(f"No uploaded file {upload_id}: PUT it to its uploadUrl first "
                        "(an upload URL lasts 15 minutes).",
                        details=[{"field": "uploadId", "message": "no such upload"}])


def _inline(actor: Principal, res: Any, body: bytes, media: str) -> dict[str, Any]:
    from chalicelib.exchange.parsing import (  # not at every cold start
        MEDIA_TYPES,
        open_reader,
    )

    fmt = MEDIA_TYPES.get(media)
    if fmt is None:
        raise UnsupportedMediaType("Send the file as text/csv or application/json (a JSON "
                                   "array), or upload it (POST /imports/uploads).",
                                   details=[{"field": "Content-Type",
                                             "message": f"{media or 'missing'} not accepted"}])
    if not body.strip():
        raise Unprocessable("The body is empty: send the file, or an uploadId.",
                            details=[{"field": "body", "message": "empty"}])
    found = open_reader(fmt, rows.columns(res)).inspect(body)  # FileRejected: 422
    if found.rows == 0:
        message = import_kind.no_rows(fmt)
        raise Unprocessable(message, details=[{"row": None, "field": None, "message": message}])
    key = storage.inline_key(actor.owner, ids.new_id("src"), fmt)
    storage.put(key, body, storage.MEDIA[fmt])
    return {"format": fmt, "source": key, "size": len(body)}


def upload(actor: Principal, fmt: str) -> dict[str, Any]:
    upload_id = ids.new_id("upl")
    url = storage.upload_link(storage.upload_key(actor.owner, upload_id, fmt), fmt)
    return {"uploadId": upload_id, "uploadUrl": url, "method": "PUT",
            "headers": {"Content-Type": storage.MEDIA[fmt]},
            "expiresAt": clock.iso(clock.now() + storage.UPLOAD_SECONDS)}


def get(actor: Principal, import_id: str) -> Job:
    return jobs.visible(actor, import_id, KIND)


def listing(actor: Principal, query: ListImports) -> tuple[list[Job], str | None]:
    entity = query.entity
    return jobs.listing(actor, KIND, cursor=query.cursor, limit=query.per_page,
                        keep=(lambda j: j.params.get("entity") == entity) if entity else None)


def cancel(actor: Principal, import_id: str) -> Job:
    """Stops a pending or running import between two chunks; the rows written so far
    stay (each was a complete create or update with its event)."""
    return jobs.cancel(actor, import_id, KIND)


def errors_link(actor: Principal, import_id: str) -> dict[str, str]:
    """A link to the error file (row,field,message) once the import finished."""
    job = jobs.visible(actor, import_id, KIND)
    if job.result is None or job.status == CANCELLED:
        raise Conflict(f"The import is {job.status}; its error file comes when it "
                       "finishes.")
    key = storage.errors_key(job.id)
    url = storage.link(key, f"{job.params.get('entity')}-{job.id}-errors.csv",
                       "text/csv; charset=utf-8")
    return {"downloadUrl": url, "expiresAt": clock.iso(clock.now() + storage.LINK_SECONDS)}


def counts(job: Job) -> dict[str, Any]:
    """The contract's names, from the result (finished) or the last checkpoint."""
    got = job.result or {}
    if job.result is None:
        point = job.checkpoint or {}
        created, updated = int(point.get("created", 0)), int(point.get("updated", 0))
        got = {"successCount": created + updated, "errorCount": int(point.get("failed", 0)),
               "createdCount": created, "updatedCount": updated,
               "errors": point.get("sample", []), "errorsTruncated": bool(point.get("truncated"))}
    return {"totalRows": job.total_rows, "processedRows": job.processed_rows,
            "successCount": got.get("successCount", 0), "errorCount": got.get("errorCount", 0),
            "createdCount": got.get("createdCount", 0),
            "updatedCount": got.get("updatedCount", 0), "errors": got.get("errors", []),
            "errorsTruncated": bool(got.get("errorsTruncated"))}


def status_of(job: Job) -> dict[str, Any]:
    failure = next((e for e in reversed(job.errors) if "code" in e), None)
    return {"id": job.id, "status": job.status, **counts(job), "progress": job.progress(),
            "startedAt": job.started_at, "finishedAt": job.finished_at, "failure": failure}


def present(job: Job, version: str = "v1") -> dict[str, Any]:
    base = f"/api/{version}/imports/{job.id}"
    links = {"self": base, "status": f"{base}/status"}
    if job.result is not None and job.status != CANCELLED:
        links["errors"] = f"{base}/errors"
    return {**status_of(job), "entity": job.params.get("entity"),
            "format": job.params.get("format"), "dryRun": bool(job.params.get("dryRun")),
            "createdAt": job.created_at, "createdBy": job.created_by, "owner": job.owner,
            "sandbox": job.sandbox, "links": links}
