"""/api/v1/exports (scope exports:run; own exports only, an admin sees all; another
owner's export answers 404)."""

from __future__ import annotations

from chalicelib.core.lazy import on_first_call
from chalicelib.exchange.exports import (
    events,  # noqa: F401 - registers export.completed / export.failed
)
from chalicelib.exchange.exports.at_once import ExportsQuery
from chalicelib.exchange.exports.models import CreateExport
from chalicelib.http.context import RequestContext
from chalicelib.http.registry import NO_STORE, ApiBlueprint, Reply, ok, page
from chalicelib.resources import (
    customers,  # noqa: F401 - declares customers:read, which the subject export requires
)

api = ApiBlueprint(__name__, "Exports")

# Imported by the first call, not at every function's cold start.
_service = on_first_call("chalicelib.exchange.exports.service")

SCOPE = ("exports:run",)
ONE = "/exports/{export_id}"


def _version(ctx: RequestContext) -> str:
    return ctx.version or "v1"


@api.route("/exports", "POST", scopes=SCOPE, body=CreateExport, status=202,
           summary="Start an export")
def create_export(ctx: RequestContext, body: CreateExport) -> Reply:
    """Answers 202 with the export job (status `pending`); follow it at `links.status`.
    Besides `exports:run` the caller needs the entity's read scope (403 otherwise), and
    keeps needing it: an owner who loses it meanwhile sees the export fail. The file
    streams from DynamoDB into S3 in parts; its data dictionary comes as a sidecar JSON
    (and as the second sheet of an XLSX). Raises export.completed or export.failed."""
    data = _service().present(_service().create(ctx.actor, body), _version(ctx))
    return Reply({"data": data}, 202, {"Location": data["links"]["self"]})


@api.route("/customers/{customer_id}/export", "POST", scopes=("exports:run", "customers:read"),
           status=202, summary="Export everything held about a customer")
def export_customer(ctx: RequestContext, customer_id: str) -> Reply:
    """A data subject's export (GDPR art. 15/20): admin only (403 otherwise; a sandbox
    key of an admin reaches sandbox customers); 404 for an unknown customer. Answers 202
    with an export job (entity `customer_subject`, format json), followed and downloaded
    at /exports/{id}: one JSON document `{generatedAt, subject, customer, orders (with
    their payments), tickets, events, deliveries}`. An erased customer's holds what is
    left, and `subject.erased` says so. Audited as `customer.export`."""
    data = _service().present(_service().create_subject(ctx.actor, customer_id), _version(ctx))
    return Reply({"data": data}, 202, {"Location": data["links"]["self"]})


@api.route("/exports", scopes=SCOPE, query=ExportsQuery, answers=(202,),
           summary="Export history, or an export's link at once")
def list_exports(ctx: RequestContext, query: ExportsQuery) -> Reply:
    """The caller's exports (an admin: everyone's), newest first: who started each, when,
    its status, rows and bytes.

    With `type` (and `format`, `fields`, `filters` as a JSON object, `bom`) it exports
    now instead, as POST /exports with that body, and answers `{downloadUrl, expiresAt,
    export}` once the file is written; an export still running after about 7 seconds
    answers 202 with the job (`Location` to follow, then `/download`). The Ayurveda
    brief's `GET /api/export?type=...&format=...`."""
    if query.wants_link():
        from chalicelib.exchange.exports import at_once

        job, link = at_once.run(ctx.actor, query.body())
        data = _service().present(job, _version(ctx))
        if link is None:
            return Reply({"data": data}, 202, {"Location": data["links"]["self"],
                                               "Retry-After": "2"})
        return Reply({"data": {**link, "export": data}}, 200, dict(NO_STORE))
    jobs, cursor = _service().listing(ctx.actor, query)
    return page([_service().present(j, _version(ctx)) for j in jobs], cursor, query.per_page)


@api.route(ONE, scopes=SCOPE, summary="Get an export")
def get_export(ctx: RequestContext, export_id: str) -> Reply:
    return ok(_service().present(_service().get(ctx.actor, export_id), _version(ctx)))


@api.route(f"{ONE}/status", scopes=SCOPE, summary="An export's status and progress")
def export_status(ctx: RequestContext, export_id: str) -> Reply:
    """`progress.processedRows` counts the rows written so far (`totalRows` and
    `percentage` once known)."""
    return ok(_service().status_of(_service().get(ctx.actor, export_id)))


def _link(ctx: RequestContext, export_id: str, what: str) -> Reply:
    found = _service().download(ctx.actor, export_id, what)
    if "application/json" in ctx.header("accept").lower():
        return Reply({"data": found}, 200, dict(NO_STORE))
    return Reply("", 302, {"Location": found["downloadUrl"], **NO_STORE}, raw=True)


@api.route(f"{ONE}/download", scopes=SCOPE, errors=(409,), answers=(302,),
           summary="Download an export's file")
def download_export(ctx: RequestContext, export_id: str) -> Reply:
    """302 to a presigned S3 URL that expires after 15 minutes; with `Accept:
    application/json`, `{downloadUrl, expiresAt}` instead. 409 while the export is not
    completed, or once its files were deleted or expired."""
    return _link(ctx, export_id, "file")


@api.route(f"{ONE}/dictionary", scopes=SCOPE, errors=(409,), answers=(302,),
           summary="Download an export's data dictionary")
def download_dictionary(ctx: RequestContext, export_id: str) -> Reply:
    """The sidecar JSON: each field's name, type, description and an example; as the
    file's download answers it."""
    return _link(ctx, export_id, "dictionary")


@api.route(ONE, "DELETE", scopes=SCOPE, summary="Cancel an export, or delete its files")
def delete_export(ctx: RequestContext, export_id: str) -> Reply:
    """A pending or running export is cancelled: the worker stops between two pages and
    its partial output is removed. A completed export's files are deleted (the history
    keeps it). Answers the export."""
    return ok(_service().present(_service().delete(ctx.actor, export_id), _version(ctx)))
