"""Exports as the API offers them: create (a job), list (the history), see, follow,
download, cancel or delete.

An export never shows what its creator may not read: creating one needs the entity's
read scope besides `exports:run`, the job re-checks both (within its owner's current
scopes) at every invocation, and a download needs the entity's read scope again.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.events import audit
from chalicelib.exchange.exports import kind as export_kind
from chalicelib.exchange.exports import native, sources, storage, subject
from chalicelib.exchange.exports.models import CreateExport, ListExports
from chalicelib.jobs import repo as job_repo
from chalicelib.jobs import service as jobs
from chalicelib.jobs.model import COMPLETED, Job
from chalicelib.resources.customers import CUSTOMERS
from chalicelib.store import table as store

KIND = export_kind.KIND.name


def create(actor: Principal, body: CreateExport) -> Job:
    return jobs.submit(actor, KIND, export_kind.ID_PREFIX, checked_params(actor, body))


def checked_params(actor: Principal, body: CreateExport) -> dict[str, Any]:
    """The job's params of an export the actor may run (403 without the entity's read
    scope, 422 naming an unknown field or filter); schedules store these too."""
    exportable = sources.find(body.entity)
    if body.format == native.FORMAT and not isinstance(exportable, native.TableExportable):
        raise Unprocessable(f"Format {native.FORMAT} is for entity {native.NAME} only.",
                            details=[{"field": "format", "message": "one of csv, json, "
                                      "ndjson, xlsx, xml"}])
    return exportable.params(actor, body)


def create_subject(actor: Principal, customer_id: str) -> Job:
    """A data subject's export (subject.py): 403 unless admin, 404 for an unknown
    customer. Written with two audit entries in one transaction: the job's, and one
    against the customer (as their erasure is audited)."""
    params = subject.params_for(actor, customer_id)
    job = jobs.new(KIND, export_kind.ID_PREFIX, params, owner=actor.owner,
                   sandbox=actor.sandbox, created_by=actor.describe(), scopes=actor.scopes)
    store.transact([
        job_repo.create_op(job),
        audit.put_op(audit.entry(actor, f"{KIND}.create", KIND, job.id, params)),
        audit.put_op(audit.entry(actor, "customer.export", CUSTOMERS.singular, customer_id,
                                 {"exportId": job.id, "format": "json"}))])
    jobs.enqueue(job)
    return job


def get(actor: Principal, export_id: str) -> Job:
    return jobs.visible(actor, export_id, KIND)


def listing(actor: Principal, query: ListExports) -> tuple[list[Job], str | None]:
    statuses = set(query.status.split(",")) if query.status else None
    entity = query.entity
    if entity in sources.EXPORTABLE:  # an alias lists its canonical name's exports
        entity = sources.EXPORTABLE[entity].name

    def keep(job: Job) -> bool:
        return ((statuses is None or job.status in statuses)
                and (entity is None or job.params.get("entity") == entity))

    return jobs.listing(actor, KIND, cursor=query.cursor, limit=query.per_page,
                        keep=keep if (statuses or entity) else None)


def download(actor: Principal, export_id: str, what: str = "file") -> dict[str, str]:
    """A link to the file (or its data dictionary) that expires: {downloadUrl,
    expiresAt}. 409 unless the export completed and its files are still kept."""
    job = jobs.visible(actor, export_id, KIND)
    entity = str(job.params.get("entity"))
    sources.find(entity).require(actor, job)
    result = job.result or {}
    if job.status != COMPLETED:
        raise Conflict(f"The export is {job.status}; it can be downloaded once completed.")
    if result.get("filesDeletedAt"):
        raise Conflict("The export's files were deleted.")
    now = clock.now()
    if clock.parse_iso(str(result["expiresAt"])) <= now:
        raise Conflict("The export's files have expired; run the export again.")
    if entity == native.NAME:  # DynamoDB's files: a link to each, the manifest first
        if what == "dictionary":
            raise Conflict("A full-table export has no data dictionary; DynamoDB's "
                           "manifest is among its files.")
        return {**native.links(job), "expiresAt": clock.iso(now + storage.LINK_SECONDS)}
    fmt = str(job.params["format"])
    if what == "dictionary":
        key, meta = storage.dictionary_key(job.id, entity), result["dictionary"]
    else:
        key = storage.file_key(job.id, entity, export_kind.extension(fmt))
        meta = result["file"]
    url = storage.link(key, meta["name"], meta["contentType"])
    return {"downloadUrl": url, "expiresAt": clock.iso(now + storage.LINK_SECONDS)}


def delete(actor: Principal, export_id: str) -> Job:
    """Cancels a pending or running export (its partial output removed), or deletes a
    completed export's files (the history keeps the job)."""
    job = jobs.visible(actor, export_id, KIND)
    if job.status != COMPLETED:
        return jobs.cancel(actor, export_id, KIND)
    if (job.result or {}).get("filesDeletedAt"):
        return job

    def mark(current: Job) -> dict[str, Any] | None:
        result = current.result or {}
        if result.get("filesDeletedAt"):
            return None
        return {"result": {**result, "filesDeletedAt": clock.iso()}}

    job = jobs.amend(actor, export_id, KIND, mark)
    storage.remove(storage.folder(job.id))
    audit.record(actor, "export.delete_files", KIND, job.id, {}, owner=job.owner)
    return job


def present(job: Job, version: str = "v1") -> dict[str, Any]:
    """An export as the API answers it."""
    params, result = job.params, job.result
    base = f"/api/{version}/exports/{job.id}"
    links = {"self": base, "status": f"{base}/status"}
    shown: dict[str, Any] | None = None
    if result is not None:
        shown = {k: result[k] for k in ("file", "dictionary", "expiresAt", "filesDeletedAt",
                                        "rowOrder", "segments", "exportTime") if k in result}
        if "files" in result:  # a full-table export's (native.py), without their keys
            shown["files"] = [{k: f[k] for k in ("name", "kind", "bytes")}
                              for f in result["files"]]
        if job.status == COMPLETED and not result.get("filesDeletedAt"):
            links.update(download=f"{base}/download", dictionary=f"{base}/dictionary")
    return {
        "id": job.id, "status": job.status, "entity": params.get("entity"),
        "format": params.get("format"), "fields": params.get("fields"),
        "filters": params.get("filters") or {}, "options": params.get("options") or {},
        "progress": job.progress(), "rows": job.processed_rows,
        "bytes": (result or {}).get("bytes"), "createdAt": job.created_at,
        "startedAt": job.started_at, "finishedAt": job.finished_at,
        "createdBy": job.created_by, "owner": job.owner, "sandbox": job.sandbox,
        "result": shown, "errors": job.errors, "links": links}


def status_of(job: Job) -> dict[str, Any]:
    return {"id": job.id, "status": job.status, "progress": job.progress(),
            "startedAt": job.started_at, "finishedAt": job.finished_at, "errors": job.errors}
