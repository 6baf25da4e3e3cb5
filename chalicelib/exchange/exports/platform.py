"""The platform's own data, exported as a resource is: webhook deliveries, the access log
and the audit log.

Who exports what is who lists what: an admin exports everyone's; anyone else (with
`logs:read` for the logs, `webhooks:manage` for deliveries) their owner's own, read as
the listing endpoints read them (ops/logs.py: the owner's index; webhooks/delivery: the
owner's webhooks, then each one's deliveries), never a Scan. A sandbox principal
exports the deliveries of sandbox webhooks only. An admin's export of everyone's data
keeps needing `admin` while it runs, and to be downloaded.

`fields` and `filters` are checked against the declarations below (an unknown one
answers 422 naming it); the fields' names, types, descriptions and examples are the data
dictionary that goes with the file. `from`/`to` stand for `createdAfter`/`createdBefore`.
A delivery's payload `data` (and the receivers' answers) show only where both the
export's principal and the webhook's owner may read the event type now, as in the
delivery API (`dataOmitted` otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import AwareDatetime, Field, ValidationError, field_validator

from chalicelib.core.errors import Forbidden, NotFound, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import allows, within
from chalicelib.events import catalog
from chalicelib.exchange.exports import sources
from chalicelib.http.models import Query
from chalicelib.jobs.kinds import JobFailed
from chalicelib.jobs.model import Job
from chalicelib.ops import logs
from chalicelib.store import table as store
from chalicelib.webhooks import repo as webhooks_repo
from chalicelib.webhooks import service as webhooks
from chalicelib.webhooks.delivery import repo as deliveries
from chalicelib.webhooks.delivery import service as delivery_service

if TYPE_CHECKING:
    from chalicelib.exchange.exports.models import CreateExport
    from chalicelib.exchange.formats import Field as DictField

LOG_PAGE = 1000      # log entries per page (about 0.5 kB each)
DELIVERY_PAGE = 50   # deliveries per page (an attempt log may reach 200 kB)
_NOT_FILTERS = {"perPage", "cursor"}
_ALIASES = {"from": "createdAfter", "to": "createdBefore"}
_T = "2026-01-01T00:00:00.000Z"

Keep = Callable[[dict[str, Any]], bool]


class DeliveryFilters(Query):
    webhook_id: str | None = Field(None, max_length=64, description="One webhook's only.")
    status: str | None = Field(None, max_length=100, description=(
        "Comma-separated: " + ", ".join(deliveries.STATUSES) + "."))
    event: str | None = Field(None, max_length=100, description="One event type's only.")
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and any(s.strip() not in deliveries.STATUSES
                                     for s in value.split(",")):
            raise ValueError("unknown status")
        return value


class PlatformData(sources.Exportable):
    """One kind of platform data: the scope that lists it, its filters (the listing's
    query model) and its fields (name, type, description, example)."""

    scope: ClassVar[str]
    filters_model: ClassVar[type[Query]]
    declared: ClassVar[tuple[tuple[str, str, str, Any], ...]]

    # -- the request ------------------------------------------------------------------
    def params(self, actor: Principal, body: CreateExport) -> dict[str, Any]:
        self._require_scope(actor.scopes)
        sources.check_fields(self.name, self.names(), body.fields)
        self.filters(body.filters)
        options = {"bom": bool(body.options and body.options.bom)}
        return {"entity": self.name, "format": body.format, "fields": body.fields,
                "filters": body.filters or {}, "options": options,
                "everyone": actor.is_admin}

    def names(self) -> list[str]:
        return [name for name, *_ in self.declared]

    def filters(self, given: dict[str, Any] | None) -> Any:
        """The filters as the listing's query model; 422 naming an unknown filter or a
        bad value."""
        given = dict(given or {})
        allowed = [f.alias or n for n, f in self.filters_model.model_fields.items()
                   if (f.alias or n) not in _NOT_FILTERS]
        unknown = [k for k in given if k not in allowed and k not in _ALIASES]
        if unknown:
            raise Unprocessable(f"Unknown filter(s) for {self.name}: {', '.join(unknown)}.",
                                details=[{"field": f"filters.{k}", "message": "not a filter; "
                                          f"one of {', '.join([*allowed, *_ALIASES])}"}
                                         for k in unknown])
        for short, long in _ALIASES.items():
            if short in given:
                if long in given:
                    raise Unprocessable(f"Give {short} or {long}, not both.", details=[
                        {"field": f"filters.{short}", "message": f"also given as {long}"}])
                given[long] = given.pop(short)
        given = {k: ",".join(map(str, v)) if isinstance(v, list) else v
                 for k, v in given.items()}
        try:
            query: Any = self.filters_model.model_validate(given)
        except ValidationError as exc:
            raise Unprocessable("Some filters are not valid.", details=[
                {"field": "filters." + ".".join(str(p) for p in e.get("loc", ())),
                 "message": e.get("msg", "invalid")} for e in exc.errors()]) from exc
        after, before = query.created_after, query.created_before
        if after and before and after > before:
            raise Unprocessable("Some filters are not valid.", details=[
                {"field": "filters.createdAfter", "message": "later than createdBefore"}])
        return query

    # -- the job --------------------------------------------------------------------
    def required_scopes(self, job: Job) -> list[str]:
        return ["exports:run", self.scope, *(["admin"] if job.params.get("everyone") else [])]

    def require(self, actor: Principal, job: Job) -> None:
        self._require_scope(actor.scopes)
        if job.params.get("everyone") and not actor.is_admin:
            raise Forbidden("This export holds everyone's data: an admin's to download.")

    def _require_scope(self, held: Any) -> None:
        if not allows(held, [self.scope]):
            raise Forbidden(f"Exporting {self.name} needs the scope {self.scope}.",
                            details=[{"field": "entity", "message": f"needs {self.scope}"}])

    def dictionary(self, names: list[str]) -> list[DictField]:
        from chalicelib.exchange.formats import Field as DictField

        declared = {name: rest for name, *rest in self.declared}
        return [DictField(n, *declared[n]) for n in names]


class LogSource(sources.Source):
    """An owner's log entries (everyone's: owner None), oldest first."""

    def __init__(self, data: PlatformData, names: list[str], kind: str, owner: str | None,
                 between: tuple[str, str] | None, keep: Keep | None,
                 entry: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.entity, self.names = data.name, names
        self.fields = data.dictionary(names)
        self.kind, self.owner, self.between, self.keep, self.entry = (
            kind, owner, between, keep, entry)

    def page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        items, after = store.owned_page(self.kind, self.owner, cursor=cursor, limit=LOG_PAGE,
                                        forward=True, sk_between=self.between,
                                        item_filter=self.keep)
        names = self.names
        return [{n: row.get(n) for n in names} for row in map(self.entry, items)], after


def _everyone(job: Job) -> bool:
    return bool(job.params.get("everyone"))


def _names(data: PlatformData, job: Job) -> list[str]:
    return sources.check_fields(data.name, data.names(), job.params.get("fields"))


class AccessLogs(PlatformData):
    name = "access_logs"
    aliases = ("api_access_logs", "api-access-logs", "access-logs")
    scope = "logs:read"
    filters_model = logs.AccessLogQuery
    declared = (
        ("id", "string", "The entry's id: the server's id of the request.", "req_01example"),
        ("timestamp", "datetime", "When the request was answered (UTC).", _T),
        ("method", "string", "HTTP method.", "GET"),
        ("path", "string", "The request's path.", "/api/v1/orders"),
        ("route", "string", "The route the path matched.", "/api/v1/orders/{order_id}"),
        ("query", "object", "Query parameters (secrets masked).", {"perPage": "20"}),
        ("status", "integer", "HTTP status answered.", 200),
        ("latencyMs", "integer", "Time to answer, in milliseconds.", 12),
        ("ip", "string", "The caller's IP address, masked.", "203.0.113.0"),
        ("userAgent", "string", "User-Agent (at most 256 characters).", "curl/8.5.0"),
        ("principal", "string", "Who called (kind:id; empty when unauthenticated).",
         "api_key:key_01example"),
        ("version", "string", "API version of the path.", "v1"),
        ("clientRequestId", "string", "The caller's X-Request-Id, if it sent one.", "abc-1"))

    def open(self, job: Job) -> sources.Source:
        q = self.filters(job.params.get("filters"))
        return LogSource(self, _names(self, job), "ALOG", None if _everyone(job) else job.owner,
                         logs.time_range(q.created_after, q.created_before),
                         logs.access_filter(q), logs.access_entry)


class AuditLogs(PlatformData):
    name = "audit_logs"
    aliases = ("audit-logs",)
    scope = "logs:read"
    filters_model = logs.AuditLogQuery
    declared = (
        ("id", "string", "The entry's id.", "aud_01example"),
        ("timestamp", "datetime", "When the change was made (UTC).", _T),
        ("action", "string", "What was done: <target>.<verb>.", "customer.erase"),
        ("targetType", "string", "The kind of thing changed.", "customer"),
        ("targetId", "string", "The id of the thing changed.", "cus_01example"),
        ("actor", "string", "Who did it (kind:id, or system).", "user:usr_01example"),
        ("changes", "object", "What changed (secrets and personal data masked).",
         {"erased": True}),
        ("requestId", "string", "The server's id of the request.", "req_01example"),
        ("ip", "string", "The caller's IP address, masked.", "203.0.113.0"))

    def open(self, job: Job) -> sources.Source:
        q = self.filters(job.params.get("filters"))
        return LogSource(self, _names(self, job), "AUDIT",
                         None if _everyone(job) else job.owner,
                         logs.time_range(q.created_after, q.created_before),
                         logs.audit_filter(q), logs.audit_entry)


class WebhookDeliveries(PlatformData):
    name = "webhook_deliveries"
    aliases = ("deliveries", "delivery_logs", "webhook-deliveries", "delivery-logs")
    scope = "webhooks:manage"
    filters_model = DeliveryFilters
    declared = (
        ("id", "string", "The delivery's id (one per event and webhook).", "dlv_01example"),
        ("webhookId", "string", "The webhook it was sent to.", "whk_01example"),
        ("event", "string", "The event type.", "order.created"),
        ("eventId", "string", "The event's id.", "evt_01example"),
        ("status", "string", " | ".join(deliveries.STATUSES), "delivered"),
        ("attemptCount", "integer", "Attempts made.", 1),
        ("nextAttemptAt", "datetime", "When the next attempt is due (while pending).", None),
        ("createdAt", "datetime", "When the event was fanned out to the webhook.", _T),
        ("updatedAt", "datetime", "Last change.", _T),
        ("requiredScope", "string", "The scope that reads the event type.", "orders:read"),
        ("dataOmitted", "boolean", "True when the payload's data and the receiver's "
         "answers are left out (the scope above is not held by the export's principal "
         "or the webhook's owner).", None),
        ("reason", "string", "Why it failed or was cancelled.", None),
        ("attempts", "array", "Each attempt: number, time, status, duration, request "
         "headers (secrets redacted), the receiver's answer (truncated), error.",
         [{"attempt": 1, "at": _T, "status": 200, "durationMs": 85}]),
        ("payload", "object", "The JSON sent: {id, event, timestamp, data}.",
         {"id": "evt_01example", "event": "order.created", "timestamp": _T, "data": {}}))

    def params(self, actor: Principal, body: CreateExport) -> dict[str, Any]:
        params = super().params(actor, body)
        hook_id = (body.filters or {}).get("webhookId")
        if hook_id is not None:
            try:  # as GET /webhooks/{id}/deliveries: someone else's is not there
                webhooks.visible(actor, str(hook_id))
            except NotFound:
                raise Unprocessable("No such webhook.", details=[
                    {"field": "filters.webhookId", "message": "no such webhook"}]) from None
        return params

    def open(self, job: Job) -> sources.Source:
        return DeliverySource(self, _names(self, job), job,
                              self.filters(job.params.get("filters")))


class DeliverySource(sources.Source):
    """Deliveries as the delivery log lists them: the owner's webhooks (everyone's for an
    admin; sandbox ones for a sandbox principal), newest first, each one's deliveries
    newest first. The cursor names the webhook being read, the listing's cursor after
    it and the deliveries' cursor within it."""

    def __init__(self, data: PlatformData, names: list[str], job: Job, q: Any) -> None:
        from chalicelib.auth.owners import current_scopes

        self.entity, self.names, self.job = data.name, names, job
        self.fields = data.dictionary(names)
        self.owner = None if _everyone(job) else job.owner
        self.webhook_id: str | None = q.webhook_id
        owners = current_scopes([job.owner])
        self._scopes: dict[str, frozenset[str]] = dict(owners)
        self.held = within(job.scopes, owners.get(job.owner, frozenset()))
        statuses = {s.strip() for s in q.status.split(",")} if q.status else None
        between = logs.time_range(q.created_after, q.created_before)
        event = q.event

        def keep(item: dict[str, Any]) -> bool:
            stamp = str(item.get("createdAt", ""))
            return ((statuses is None or item.get("status") in statuses)
                    and (event is None or item.get("event") == event)
                    and (between is None or between[0] <= stamp <= between[1]))

        self.keep = keep if (statuses or event or between) else None

    def _mine(self, hook: dict[str, Any] | None) -> bool:
        return (hook is not None and (self.owner is None or hook.get("owner") == self.owner)
                and (not self.job.sandbox or bool(hook.get("sandbox"))))

    def _next_hook(self, cursor: str | None) -> tuple[str | None, str | None]:
        """The next webhook after the listing's `cursor`, and the cursor after it."""
        if self.webhook_id:
            return (self.webhook_id if cursor is None else None), None
        hooks, after = webhooks_repo.list_webhooks(
            self.owner, cursor, 1, (lambda h: bool(h.get("sandbox"))) if self.job.sandbox
            else None)
        return (str(hooks[0]["id"]) if hooks else None), after

    def _readable(self, hook: dict[str, Any]) -> Callable[[str], bool]:
        owner = str(hook.get("owner") or "")
        if owner not in self._scopes:
            from chalicelib.auth.owners import current_scopes

            self._scopes.update(current_scopes([owner]))
        owner_scopes = self._scopes.get(owner, frozenset())
        return lambda event: (catalog.readable(event, self.held)
                              and catalog.readable(event, owner_scopes))

    def page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        at: dict[str, Any] = json.loads(cursor) if cursor else {
            "hook": None, "hooks": None, "in": None, "started": False}
        while at["hook"] is None:
            if at["started"] and at["hooks"] is None:
                return [], None
            hook_id, after = self._next_hook(at["hooks"])
            at = {"hook": hook_id, "hooks": after, "in": None, "started": True}
        hook = webhooks_repo.get(at["hook"])
        if not self._mine(hook):  # deleted (or handed over) meanwhile: the next one
            if self.webhook_id:
                raise JobFailed("NOT_FOUND", "The webhook no longer exists.")
            return [], json.dumps({**at, "hook": None, "in": None})
        assert hook is not None
        items, within_hook = deliveries.page_of(str(hook["id"]), at["in"], DELIVERY_PAGE,
                                                self.keep)
        readable = self._readable(hook)
        names = self.names
        rows = [delivery_service.public(i, readable(str(i.get("event"))), with_payload=True)
                for i in items]
        rows = [{n: r.get(n) for n in names} | {"dataOmitted": bool(r.get("dataOmitted"))}
                if "dataOmitted" in names else {n: r.get(n) for n in names} for r in rows]
        if within_hook is not None:
            return rows, json.dumps({**at, "in": within_hook})
        if at["hooks"] is None:
            return rows, None
        return rows, json.dumps({**at, "hook": None, "in": None})


for _data in (WebhookDeliveries(), AccessLogs(), AuditLogs()):
    sources.register(_data)
