"""CORS: origins from $GATEHOUSE_CORS_ORIGINS only; none by default."""

from __future__ import annotations

from chalice import Response

from chalicelib.core.settings import get_settings

EXPOSED = ("X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
           "RateLimit, RateLimit-Policy, Retry-After, Deprecation, Sunset, Link, "
           "Idempotent-Replayed")
ALLOWED_HEADERS = ("Authorization, Content-Type, X-API-Key, X-API-Signature, X-Timestamp, "
                   "X-Request-Id, Idempotency-Key")


def allowed_origin(origin: str) -> str:
    origins = get_settings().cors_origins
    if not origin:
        return ""
    if "*" in origins:
        return "*"
    return origin if origin in origins else ""


def headers_for(origin: str) -> dict[str, str]:
    allowed = allowed_origin(origin)
    if not allowed:
        return {}
    return {"Access-Control-Allow-Origin": allowed, "Access-Control-Expose-Headers": EXPOSED,
            "Vary": "Origin"}


def preflight(origin: str, methods: list[str]) -> Response:
    hdrs: dict[str, str | list[str]] = dict(headers_for(origin))
    if hdrs:
        hdrs.update({"Access-Control-Allow-Methods": ", ".join(sorted(set(methods))),
                     "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                     "Access-Control-Max-Age": "600"})
    hdrs["Allow"] = ", ".join(sorted(set(methods) | {"OPTIONS"}))
    return Response(body="", status_code=204, headers=hdrs)
