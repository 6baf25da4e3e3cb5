"""GET /api-access-logs and /audit-logs: an owner's own entries, an admin's all."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, Field, field_validator

from chalicelib.core import clock
from chalicelib.http.context import RequestContext
from chalicelib.http.models import PageQuery
from chalicelib.http.registry import ApiBlueprint, Reply, page
from chalicelib.store import table as store

api = ApiBlueprint(__name__, "Logs")

PUBLIC_ACCESS = ("id", "timestamp", "method", "path", "route", "query", "status", "latencyMs",
                 "ip", "userAgent", "principal", "version", "clientRequestId")
PUBLIC_AUDIT = ("id", "timestamp", "action", "targetType", "targetId", "actor", "changes",
                "requestId", "ip")


_STATUS_SPEC = re.compile(r"(\d{3}|\dxx)(,(\d{3}|\dxx))*", re.IGNORECASE)


def check_status(spec: str | None) -> str | None:
    """A status filter as GET /api-access-logs and the access-log export take it:
    comma-separated codes or classes (`200,404`, `4xx`); ValueError otherwise (a bad
    value would match nothing, silently)."""
    if spec is not None and not _STATUS_SPEC.fullmatch(spec.replace(" ", "")):
        raise ValueError("expected comma-separated status codes or classes, e.g. 200,404 "
                         "or 4xx")
    return spec


class AccessLogQuery(PageQuery):
    method: str | None = Field(None, max_length=10)
    status: str | None = Field(None, max_length=100, description="e.g. 200,404 or 4xx")
    path: str | None = Field(None, max_length=500, description="Path prefix.")
    principal: str | None = Field(None, max_length=200)
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        return check_status(value)


class AuditLogQuery(PageQuery):
    action: str | None = Field(None, max_length=100, description="Action prefix.")
    target_type: str | None = Field(None, max_length=100)
    target_id: str | None = Field(None, max_length=200)
    actor: str | None = Field(None, max_length=200)
    created_after: AwareDatetime | None = None
    created_before: AwareDatetime | None = None


def time_range(after: datetime | None, before: datetime | None) -> tuple[str, str] | None:
    """The sort-key bounds of entries created between `after` and `before` (either may
    be missing); None when both are."""
    if not after and not before:
        return None
    low = clock.iso(after.timestamp()) if after else "0"
    high = clock.iso(before.timestamp()) if before else "9"
    return low, high


def status_matches(spec: str, status: int) -> bool:
    """Whether `status` is one of a status filter's codes or classes (check_status)."""
    for part in spec.split(","):
        part = part.strip().lower()
        if part.endswith("xx") and part[:1].isdigit() and status // 100 == int(part[0]):
            return True
        if part.isdigit() and int(part) == status:
            return True
    return False


def _listing(ctx: RequestContext, kind: str, query: Any, keep: Any) -> Any:
    principal = ctx.principal
    assert principal is not None
    return store.owned_page(kind, None if principal.is_admin else principal.owner,
                            cursor=query.cursor, limit=query.per_page, item_filter=keep,
                            sk_between=time_range(query.created_after, query.created_before))


@api.route("/api-access-logs", scopes=("logs:read",), query=AccessLogQuery,
           summary="Access log of API requests")
def access_logs(ctx: RequestContext, query: AccessLogQuery) -> Reply:
    """Every request: method, path, status, latency, principal, masked IP, user agent.
    Non-admins see the requests made with their own credentials."""
    items, cursor = _listing(ctx, "ALOG", query, access_filter(query))
    return page([access_entry(i) for i in items], cursor, query.per_page)


Keep = Callable[[dict[str, Any]], bool]


def access_filter(query: AccessLogQuery) -> Keep | None:
    """The access-log entries a query keeps (the listing's and the export's); None when
    it filters nothing, so a page reads just its page."""
    if not (query.method or query.status or query.path or query.principal):
        return None

    def keep(item: dict[str, Any]) -> bool:
        return ((not query.method or item.get("method") == query.method.upper())
                and (not query.status or status_matches(query.status, int(item["status"])))
                and (not query.path or str(item.get("path", "")).startswith(query.path))
                and (not query.principal or item.get("principal") == query.principal))
    return keep


def access_entry(item: dict[str, Any]) -> dict[str, Any]:
    """An access-log item as the API shows it."""
    out = {k: item.get(k) for k in PUBLIC_ACCESS}
    if isinstance(out["query"], str):  # stored as JSON text (see accesslog.py)
        try:
            out["query"] = json.loads(out["query"])
        except ValueError:
            out["query"] = {}
    return out


@api.route("/audit-logs", scopes=("logs:read",), query=AuditLogQuery,
           summary="Audit log of changes and admin actions")
def audit_logs(ctx: RequestContext, query: AuditLogQuery) -> Reply:
    """Every change: who, what, when, with secrets and personal data masked."""
    items, cursor = _listing(ctx, "AUDIT", query, audit_filter(query))
    return page([audit_entry(i) for i in items], cursor, query.per_page)


def audit_filter(query: AuditLogQuery) -> Keep | None:
    """The audit entries a query keeps (the listing's and the export's); None when it
    filters nothing."""
    if not (query.action or query.target_type or query.target_id or query.actor):
        return None

    def keep(item: dict[str, Any]) -> bool:
        return ((not query.action or str(item.get("action", "")).startswith(query.action))
                and (not query.target_type or item.get("targetType") == query.target_type)
                and (not query.target_id or item.get("targetId") == query.target_id)
                and (not query.actor or item.get("actor") == query.actor))
    return keep


def audit_entry(item: dict[str, Any]) -> dict[str, Any]:
    """An audit item as the API shows it."""
    return {k: item.get(k) for k in PUBLIC_AUDIT}
