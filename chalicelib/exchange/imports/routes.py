"""/api/v1/imports (scope imports:run, plus the entity's write scope; own imports only,
an admin sees all; another owner's import answers 404)."""

from __future__ import annotations

from chalicelib.core.lazy import on_first_call
from chalicelib.exchange.imports import (
    events,  # noqa: F401 - registers import.completed
)
from chalicelib.exchange.imports.models import (
    FILE_BODY,
    CreateImport,
    CreateUpload,
    ListImports,
    TemplateQuery,
)
from chalicelib.exchange.imports.templates import template
from chalicelib.http.context import RequestContext
from chalicelib.http.registry import NO_STORE, ApiBlueprint, Reply, media_type, ok, page

api = ApiBlueprint(__name__, "Imports")

# Imported by the first call, not at every function's cold start.
_service = on_first_call("chalicelib.exchange.imports.service")

SCOPE = ("imports:run",)
ONE = "/imports/{import_id}"


def _version(ctx: RequestContext) -> str:
    return ctx.version or "v1"


@api.route("/imports", "POST", scopes=SCOPE, query=CreateImport, status=202,
           errors=(409, 415), summary="Start an import")
def create_import(ctx: RequestContext, query: CreateImport) -> Reply:
    """The body is the file: `text/csv` (a header row, then rows) or `application/json`
    (an array of objects), up to 1 MiB; a larger file goes through `uploadId`. A JSON
    object `{type, data, options: {dryRun}}` (the Ayurveda brief's body) is taken too:
    `data` is the array, `type` the entity (then `entity` may be left out). A body is
    checked at once: a bad file (not UTF-8, an unknown or missing column, broken quoting)
    answers 422 with `details: [{row, field, message}]` and nothing is kept. Then 202
    with the job: each row is checked by the entity's create model, rows whose natural
    key (products: sku, customers: email, inventory: sku) exists update it, others
    create; `dryRun=true` checks every row and writes nothing. Needs the entity's write
    scope too. Raises the records' events and import.completed."""
    job = _service().create(ctx.actor, query, ctx.raw_body or b"", media_type(ctx))
    data = _service().present(job, _version(ctx))
    return Reply({"data": data}, 202, {"Location": data["links"]["self"]})


create_import.__dict__["request_body_doc"] = FILE_BODY  # docs/openapi: the file's shapes


@api.route("/imports/uploads", "POST", scopes=SCOPE, query=CreateUpload, status=201,
           summary="Get an upload URL for a large file")
def create_upload(ctx: RequestContext, query: CreateUpload) -> Reply:
    """`{uploadId, uploadUrl, method, headers, expiresAt}`: PUT the file to `uploadUrl`
    with these headers within 15 minutes, then `POST /imports?entity=..&uploadId=..`.
    Such a file is checked by the job: a bad one fails it before any row is written."""
    return Reply({"data": _service().upload(ctx.actor, query.format)}, 201, dict(NO_STORE))


@api.route("/imports", scopes=SCOPE, query=ListImports, summary="Import history")
def list_imports(ctx: RequestContext, query: ListImports) -> Reply:
    jobs, cursor = _service().listing(ctx.actor, query)
    return page([_service().present(j, _version(ctx)) for j in jobs], cursor, query.per_page)


@api.route("/imports/templates/{entity}", scopes=SCOPE, query=TemplateQuery,
           content_type="text/csv", summary="An entity's import template")
def import_template(ctx: RequestContext, entity: str, query: TemplateQuery) -> Reply:
    """The header an import of the entity takes and an example row (CSV, or XLSX with
    `format=xlsx`, which as a binary answer needs an `Accept` naming its type or `*/*`,
    as browsers and curl send)."""
    data, media, name = template(entity, query.format)
    return Reply(data, 200, {"Content-Type": media,
                             "Content-Disposition": f'attachment; filename="{name}"'},
                 raw=True)


@api.route(ONE, scopes=SCOPE, summary="Get an import")
def get_import(ctx: RequestContext, import_id: str) -> Reply:
    return ok(_service().present(_service().get(ctx.actor, import_id), _version(ctx)))


@api.route(f"{ONE}/status", scopes=SCOPE, summary="An import's status and counts")
def import_status(ctx: RequestContext, import_id: str) -> Reply:
    """`totalRows` (once the file is scanned), `processedRows`, `successCount`,
    `errorCount` and the first 100 `errors` [{row, field, message}] (all of them in the
    error file)."""
    return ok(_service().status_of(_service().get(ctx.actor, import_id)))


@api.route(f"{ONE}/errors", scopes=SCOPE, errors=(409,), answers=(302,),
           summary="An import's error file")
def import_errors(ctx: RequestContext, import_id: str) -> Reply:
    """302 to the CSV error file (row,field,message; a link that expires after 15
    minutes); with `Accept: application/json`, `{downloadUrl, expiresAt}`. 409 until the
    import finished."""
    found = _service().errors_link(ctx.actor, import_id)
    if "application/json" in ctx.header("accept").lower():
        return Reply({"data": found}, 200, dict(NO_STORE))
    return Reply("", 302, {"Location": found["downloadUrl"], **NO_STORE}, raw=True)


@api.route(ONE, "DELETE", scopes=SCOPE, summary="Cancel an import")
def cancel_import(ctx: RequestContext, import_id: str) -> Reply:
    """A pending or running import stops between two chunks; rows written so far stay."""
    return ok(_service().present(_service().cancel(ctx.actor, import_id), _version(ctx)))
