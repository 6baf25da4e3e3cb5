"""Access log: one item per request (method, path, status, latency, principal, IP, UA).

Items: PK = ALOG#<entry id>, GSI1 = OWNER#<owner>#ALOG / <iso time>#<id> (an owner's own
requests), GSI2 = ALOG / <iso time>#<id> (admin view); kept 30 days (TTL). The entry id
is always the server's: a caller's X-Request-Id is only an attribute (clientRequestId),
and entries are created on condition that the key is free, so nothing overwrites one.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import clock
from chalicelib.core.redact import masked_ip
from chalicelib.core.settings import get_settings
from chalicelib.http.context import RequestContext
from chalicelib.store import table as store

SECRET_QUERY_KEYS = {"token", "access_token", "refresh_token", "client_secret", "password",
                     "key", "api_key", "secret", "signature"}


def masked_query(query: dict[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in SECRET_QUERY_KEYS else v[:200])
            for k, v in query.items()}


def record(ctx: RequestContext, status: int, latency_ms: float) -> dict[str, Any]:
    now = clock.now()
    stamp = clock.iso(now)
    principal = ctx.principal
    owner = principal.owner if principal else ""
    log_id = ctx.server_id
    item: dict[str, Any] = {
        "PK": f"ALOG#{log_id}", "SK": "ALOG",
        "GSI2PK": "ALOG", "GSI2SK": f"{stamp}#{log_id}",
        "id": log_id, "timestamp": stamp, "method": ctx.method, "path": ctx.path,
        # The query as JSON text, not a map: its keys are the caller's, and a map keyed by
        # arbitrary text (DynamoDB type names, lone surrogates) is what moto's emulator
        # mangles; text stores anything.
        "route": ctx.resource, "query": json.dumps(masked_query(ctx.query)), "status": status,
        "latencyMs": int(round(latency_ms)), "ip": masked_ip(ctx.ip),
        "userAgent": ctx.user_agent[:256], "principal": principal.describe() if principal else "",
        "owner": owner, "version": ctx.version,
        "ttl": int(now) + get_settings().access_log_ttl_days * 86400,
    }
    if ctx.client_request_id:
        item["clientRequestId"] = ctx.client_request_id
    if owner:
        item["GSI1PK"] = f"OWNER#{owner}#ALOG"
        item["GSI1SK"] = f"{stamp}#{log_id}"
    store.put_new(item, "An access log entry with this id exists.")
    return item
