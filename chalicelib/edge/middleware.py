"""The edge: every request passes here once (a Chalice middleware).

Order: request id, preflight, size and media checks, authentication and rate limit
(one DynamoDB write), scopes, Idempotency-Key, the view, error envelope (also for
Chalice's own errors), headers, access log. Nothing raised here reaches the caller as
a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chalice import Response

from chalicelib.auth import guard, limiter
from chalicelib.core import clock, correlation, ids, metrics, scopes
from chalicelib.core import logging as logs
from chalicelib.core.errors import (
    AuthenticationFailed,
    Forbidden,
    PayloadTooLarge,
    RateLimited,
)
from chalicelib.core.redact import masked_ip
from chalicelib.core.settings import get_settings
from chalicelib.edge import idempotency
from chalicelib.http import accesslog, context, cors, envelope, registry
from chalicelib.http.context import RequestContext

SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
SUNSET_V1 = "Sat, 31 Jul 2027 00:00:00 GMT"
DEPRECATED_V1 = "@1780272000"  # 2026-06-01T00:00:00Z, RFC 9745 form


def caller_request_id(given: str) -> str:
    """The caller's X-Request-Id if it is sane, else "" (the edge and the local gateway
    use this one rule). fullmatch: `$` would also let a trailing newline through (header
    injection)."""
    return given if SANE_REQUEST_ID.fullmatch(given) else ""


def _context(event: Any, started: float) -> RequestContext:
    headers = {k.lower(): v for k, v in (event.headers or {}).items()}
    given = caller_request_id(headers.get("x-request-id", ""))
    ctx_info = event.context or {}
    multi = (event.to_original_event() or {}).get("multiValueQueryStringParameters") or {}
    pairs = [(k, v) for k, values in multi.items() for v in (values or [])]
    return RequestContext(
        request_id=given or ids.new_id("req"),
        client_request_id=given,
        method=event.method,
        path=ctx_info.get("path") or event.path,
        resource=ctx_info.get("resourcePath", ""),
        ip=(ctx_info.get("identity") or {}).get("sourceIp", "") or "unknown",
        user_agent=headers.get("user-agent", ""),
        headers=headers,
        query=dict(pairs),
        query_pairs=pairs,
        raw_body=event.raw_body or b"",
        started=started,
        stage=str(ctx_info.get("stage", "")),
    )


def authenticate(ctx: RequestContext, spec: registry.RouteSpec) -> guard.Caller:
    if spec.auth == "required":
        try:
            return _credentials(ctx)
        except AuthenticationFailed:
            _charge_anonymous(ctx)  # missing or failed credentials count against the IP
            raise
    if spec.limited:
        return guard.anonymous(ctx.ip)
    return guard.Caller(None, None)


def _credentials(ctx: RequestContext) -> guard.Caller:
    auth = ctx.header("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationFailed("Use 'Authorization: Bearer <token>'.",
                                       error="invalid_request")
        return guard.from_bearer(token.strip(), ctx.base_url)
    key = ctx.header("x-api-key")
    if key:
        return guard.from_api_key(key, ctx.ip, ctx.method, ctx.path_with_query, ctx.raw_body,
                                  ctx.header("x-timestamp"), ctx.header("x-api-signature"))
    raise AuthenticationFailed("Authentication is required: send a Bearer token or an "
                               "X-API-Key.", error="")


def _charge_anonymous(ctx: RequestContext) -> None:
    """Counts a failed or missing authentication against the IP; the 401 that follows
    carries the IP's rate-limit headers (a 429 carries them itself)."""
    quota = guard.anonymous(ctx.ip).quota
    if quota is not None:
        ctx.response_headers.update(quota.headers())


def _check_body(ctx: RequestContext) -> None:
    limit = get_settings().max_body_bytes
    declared = ctx.header("content-length")
    if len(ctx.raw_body) > limit or (declared.isdigit() and int(declared) > limit):
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")


def _methods_of(resource: str) -> list[str]:
    return [m for (path, m) in registry.REGISTRY if path == resource]


def _handle(ctx: RequestContext, event: Any, get_response: Callable[[Any], Response],
            state: dict[str, Any]) -> Response:
    if ctx.method == "OPTIONS":
        return cors.preflight(ctx.header("origin"), _methods_of(ctx.resource))
    spec = registry.lookup(ctx.resource, ctx.method)
    if spec is None:
        return get_response(event)  # Chalice's 405, re-dressed below
    state["spec"] = spec
    ctx.version = spec.version
    _check_body(ctx)
    caller = authenticate(ctx, spec)
    ctx.principal = caller.principal
    if ctx.principal is not None:
        logs.bind(principal=ctx.principal.describe())
    state["quota"] = caller.quota
    if spec.scopes and not (ctx.principal and scopes.allows(ctx.principal.scopes, spec.scopes)):
        raise Forbidden(f"This needs the scope(s): {', '.join(spec.scopes)}.",
                        details=[{"requiredScopes": list(spec.scopes)}])
    if ctx.method == "POST" and "idempotency-key" in ctx.headers and spec.idempotent:
        # Present but empty is a client error (400), not "no key".
        return idempotency.run(ctx, ctx.header("idempotency-key"), lambda: get_response(event))
    return get_response(event)


def _finish(ctx: RequestContext, response: Response, state: dict[str, Any]) -> Response:
    body = response.body
    if envelope.is_chalice_error(body):
        response = envelope.from_chalice_error(response.status_code, ctx.request_id,
                                               {k: str(v) for k, v in response.headers.items()})
    headers = response.headers
    headers["X-Request-Id"] = ctx.request_id
    quota = state.get("quota")
    if quota is not None:
        for name, value in quota.headers().items():
            headers.setdefault(name, value)
    headers.update(cors.headers_for(ctx.header("origin")))
    if ctx.version == "v1":
        successor = ctx.path.replace("/api/v1/", "/api/v2/", 1)
        headers["Deprecation"] = DEPRECATED_V1
        headers["Sunset"] = SUNSET_V1
        headers["Link"] = (f'<{successor}>; rel="successor-version", '
                           '</api/migration-guides/v1/v2>; rel="deprecation"')
    headers.update(ctx.response_headers)
    return response


def middleware(event: Any, get_response: Callable[[Any], Response]) -> Response:
    started = clock.now()
    ctx = _context(event, started)
    context.set_current(ctx)
    correlation.bind(ctx.server_id, ctx.ip)
    # Every line logged for this request carries these (the principal once known); the
    # server's own id too when the caller chose the request id, so that lines join the
    # access-log entry and audit records; and, in Lambda, the context's keys.
    keys: dict[str, object] = {"requestId": ctx.request_id, "principal": ""}
    if ctx.server_id != ctx.request_id:
        keys["serverId"] = ctx.server_id
    keys.update(logs.lambda_context_keys(getattr(event, "lambda_context", None)))
    logs.bind(**keys)
    state: dict[str, Any] = {}
    try:
        try:
            response = _handle(ctx, event, get_response, state)
        except Exception as exc:  # noqa: BLE001 - the edge must answer, never leak a traceback
            state["error"] = exc
            response = registry.error_answer(exc, state.get("spec"), ctx.request_id)
        response = _finish(ctx, response, state)
        latency = (clock.now() - started) * 1000
        _after(ctx, response.status_code, latency, state)
        return response
    finally:
        context.set_current(None)
        correlation.clear()
        metrics.flush_metrics()
        logs.unbind(*keys)


def _breach_name(ctx: RequestContext, error: Exception | None) -> str:
    """Whom a 429 is counted against: a verified principal (the request's, else the one
    the refusal names), else the masked IP (never a name the caller merely claimed:
    anyone could invent names without end)."""
    if ctx.principal is not None:
        return ctx.principal.describe()
    breach = error.breach if isinstance(error, RateLimited) else ""
    return breach or f"ip:{masked_ip(ctx.ip)}"


def _after(ctx: RequestContext, status: int, latency_ms: float, state: dict[str, Any]) -> None:
    """Access log and error usage; failures here must not fail the request."""
    log = logs.get_logger()
    spec = state.get("spec")
    if ctx.principal is not None:  # a view may name one (the OAuth token endpoint)
        logs.bind(principal=ctx.principal.describe())
    # With the bound requestId and principal.
    log.info("request", extra={
        "method": ctx.method, "path": ctx.path, "status": status,
        "latencyMs": round(latency_ms, 1), "ip": masked_ip(ctx.ip)})
    if ctx.method == "OPTIONS" or (spec is not None and not spec.logged):
        return
    try:
        accesslog.record(ctx, status, latency_ms)
        if status >= 400 and ctx.principal is not None:
            guard.count_error(ctx.principal)
        if status == 429:
            who = _breach_name(ctx, state.get("error") or ctx.view_error)
            # Whom it counts against, which may be more than the bound principal says.
            log.warning("rate limit exceeded", extra={"principal": who})
            limiter.record_breach(who)
    except Exception:  # noqa: BLE001
        log.exception("access log write failed")
