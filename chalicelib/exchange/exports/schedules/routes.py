"""/api/v1/exports/schedules (scope exports:run, and the entity's read scope to set what
it exports; own schedules only, an admin sees all; another owner's answers 404)."""

from __future__ import annotations

from chalicelib.core.lazy import on_first_call
from chalicelib.exchange.exports.schedules.models import (
    CreateSchedule,
    ListSchedules,
    UpdateSchedule,
)
from chalicelib.http.context import RequestContext
from chalicelib.http.registry import ApiBlueprint, Reply, ok, page

api = ApiBlueprint(__name__, "Exports")

SCOPE = ("exports:run",)
ALL = "/exports/schedules"
ONE = "/exports/schedules/{schedule_id}"

# Imported by the first call, not at every function's cold start.
_service = on_first_call("chalicelib.exchange.exports.schedules.service")

def _version(ctx: RequestContext) -> str:
    return ctx.version or "v1"


@api.route(ALL, "POST", scopes=SCOPE, body=CreateSchedule, status=201, errors=(409,),
           summary="Schedule a recurring export")
def create_schedule(ctx: RequestContext, body: CreateSchedule) -> Reply:
    """The export's fields exactly as `POST /exports` takes them (checked the same way:
    the entity's read scope is needed, 403 otherwise), plus `schedule` (`rate(...)` or a
    5-field cron), `timezone` and `name`. Answers the schedule with its `nextRunAt`. Each
    run is an export of the owner's (its `export.completed` / `export.failed` events
    reach the owner's webhooks), limited by the caller's scopes now and the owner's
    scopes then; a run whose owner lost the right fails and pauses the schedule. 409: the
    owner holds 25 schedules already."""
    data = _service().present(_service().create(ctx.actor, body), _version(ctx))
    return Reply({"data": data}, 201, {"Location": data["links"]["self"]})


@api.route(ALL, scopes=SCOPE, query=ListSchedules, summary="List export schedules")
def list_schedules(ctx: RequestContext, query: ListSchedules) -> Reply:
    """The caller's schedules (an admin: everyone's), newest first."""
    items, cursor = _service().listing(ctx.actor, query)
    return page([_service().present(s, _version(ctx)) for s in items], cursor, query.per_page)


@api.route(ONE, scopes=SCOPE, summary="Get an export schedule")
def get_schedule(ctx: RequestContext, schedule_id: str) -> Reply:
    return ok(_service().present(_service().get(ctx.actor, schedule_id), _version(ctx)))


@api.route(ONE, "PATCH", scopes=SCOPE, body=UpdateSchedule, errors=(409,),
           summary="Change, pause or resume an export schedule")
def update_schedule(ctx: RequestContext, schedule_id: str, body: UpdateSchedule) -> Reply:
    """Changes the given fields. `paused: true` stops its runs (`nextRunAt` null);
    `paused: false` resumes it from now. Changing what it exports, or resuming it, is
    checked as a new export of the caller's, whose scopes then limit its runs. A new
    `schedule` or `timezone` computes `nextRunAt` from now."""
    return ok(_service().present(_service().update(ctx.actor, schedule_id, body), _version(ctx)))


@api.route(ONE, "DELETE", scopes=SCOPE, status=204, summary="Delete an export schedule")
def delete_schedule(ctx: RequestContext, schedule_id: str) -> None:
    """No further runs; the exports it made stay in the history."""
    _service().delete(ctx.actor, schedule_id)
