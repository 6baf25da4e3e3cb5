"""/api/v1/integrations/{id}/sync, /logs and /status (scope integrations:manage; own
integrations only, an admin sees all; another owner's answers 404)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.core.lazy import on_first_call
from chalicelib.http.context import RequestContext
from chalicelib.http.models import PageQuery
from chalicelib.http.registry import ApiBlueprint, Reply, ok, page

api = ApiBlueprint(__name__, "Integrations")

# Imported by the first call, not at every function's cold start.
_sync_service = on_first_call("chalicelib.integrations.sync_service")
_bytype = on_first_call("chalicelib.integrations.bytype")

SCOPE = ("integrations:manage",)
ONE = "/integrations/{integration_id}"


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = Field(False, description=(
        "true: a full resync, pulling every remote record even when the pull is "
        "incremental (config.pull.since)."))


class LogsQuery(PageQuery):
    kind: Literal["sync", "push"] = Field("sync", description=(
        "sync: a sync run's entries; push: the event pushes (as GET /pushes)."))
    run_id: str | None = Field(None, max_length=100, pattern=r"^syn_[0-9a-z]{26}$",
                               description="A run's id (default: the latest run); sync "
                               "only.")
    action: Literal["created", "updated", "skipped", "failed"] | None = Field(
        None, description="Only entries with this action; sync only.")
    status: Literal["pending", "delivered", "failed", "dropped"] | None = Field(
        None, description="Only pushes with this status; push only.")

    @model_validator(mode="after")
    def _of_its_kind(self) -> LogsQuery:
        if self.kind == "push" and (self.run_id or self.action):
            raise ValueError("runId and action go with kind=sync")
        if self.kind == "sync" and self.status:
            raise ValueError("status goes with kind=push")
        return self


def _version(ctx: RequestContext) -> str:
    return ctx.version or "v1"


def _ref(ctx: RequestContext, integration_id: str) -> str:
    """An id, or a connector type naming the caller's one connection of it (the TaskFlow
    brief's `/integrations/:type/sync` and `/:type/status`)."""
    return str(_bytype().resolve(ctx.actor, integration_id))


@api.route(f"{ONE}/sync", "POST", scopes=SCOPE, status=202, errors=(409,), body=SyncBody,
           summary="Start a sync")
def start_sync(ctx: RequestContext, integration_id: str, body: SyncBody) -> Reply:
    """Pulls the remote's records page by page into the integration's resource, as a
    job: 202 with the run (`runId`, `status`); follow `GET /status`. Records are matched
    by the natural key (sku, email): new ones are created, changed ones updated (the
    newer side wins a field, unless the integration is the field's source of truth),
    unchanged ones skipped; each write raises the resource's event. With
    `config.pull.since`, a run after a completed one is incremental (only what changed
    since that run's start, less the overlap, is pulled; `mode` and `since` in the run);
    the optional body `{"full": true}` pulls everything. 409 while a sync of this
    integration is running; 422 for a push-only integration (nothing to pull); 403
    without the resource's write scope. `/integrations/{type}/sync` syncs your one
    connection of that type."""
    conn, job = _sync_service().start(ctx.actor, _ref(ctx, integration_id), full=body.full)
    data = _sync_service().present_run(conn, job, _version(ctx))
    return Reply({"data": data}, 202, {"Location": data["links"]["status"]})


@api.route(f"{ONE}/status", scopes=SCOPE, summary="The latest sync run")
def sync_status(ctx: RequestContext, integration_id: str) -> Reply:
    """The latest run: `status` (never | pending | running | completed | failed |
    cancelled), `mode` (full | incremental) with `since` (the time an incremental run
    pulled from) or `fullReason`, `counts` {records, created, updated, skipped, failed},
    `pages`, the `error` of a failed run, and once completed the `consistency` check:
    count and checksum of the remote's mapped records and of ours for the same keys, and
    the keys that differ; its `scope` is `all`, or `pulled` for an incremental run (the
    records it pulled only). `/integrations/{type}/status`: your one connection of that type."""
    return ok(_sync_service().status(ctx.actor, _ref(ctx, integration_id), _version(ctx)))


@api.route(f"{ONE}/logs", scopes=SCOPE, query=LogsQuery,
           summary="A sync run's log, or the event pushes")
def sync_logs(ctx: RequestContext, integration_id: str, query: LogsQuery) -> Reply:
    """`kind=sync` (default): a run's entries in order (the latest run unless `runId`):
    `{runId, recordKey, action: created|updated|skipped|failed, reason, fields, at}`.
    Unchanged records are counted in the status, not logged; at most 5,000 entries per
    run are kept (30 days). `kind=push`: the event pushes, newest first, as `GET
    /pushes` answers them (`{eventId, eventType, status, attempts, createdAt, ...}`,
    `status` filters; 30 days)."""
    ref = _ref(ctx, integration_id)
    if query.kind == "push":
        entries, cursor = _sync_service().push_logs(ctx.actor, ref, query.status,
                                                    query.cursor, query.per_page)
    else:
        entries, cursor = _sync_service().logs(ctx.actor, ref, query.run_id, query.action,
                                               query.cursor, query.per_page)
    return page(entries, cursor, query.per_page)
