"""The error codes of the envelope, with what they mean: the reference that each error's
`documentation` link points into (`/api/docs#errors-<code>`), the schema's enum, and the
code of each status (for errors Chalice answers itself and the documented responses)."""

from __future__ import annotations

ERROR_CODES = {
    400: "VALIDATION_ERROR", 401: "AUTHENTICATION_ERROR", 403: "AUTHORIZATION_ERROR",
    404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE", 422: "VALIDATION_ERROR", 429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE",
}

# code -> (statuses, meaning, what to do)
ERRORS: dict[str, tuple[str, str, str]] = {
    "VALIDATION_ERROR": (
        "400, 422",
        "400: the body could not be parsed (bad JSON or form), or a query parameter or "
        "header is not valid. 422: the body parsed but a field has the wrong type, is "
        "missing or unknown, or refers to something that does not exist.",
        "Fix the fields listed in `details` (one entry per field) and send again."),
    "AUTHENTICATION_ERROR": (
        "401", "No credentials, or credentials that are not valid: a bad or revoked token, "
        "an unknown, revoked or expired API key, a wrong, stale or replayed request "
        "signature.",
        "Send `Authorization: Bearer <token>` or `X-API-Key`; see `WWW-Authenticate`."),
    "TOKEN_EXPIRED": (
        "401", "The access token has expired.",
        "Get a new one: `POST /api/v2/oauth/token` (client credentials or refresh token) "
        "or `POST /api/v2/auth/refresh`."),
    "AUTHORIZATION_ERROR": (
        "403", "Authenticated, but without the scope this operation needs (listed per "
        "operation below), an API key used from outside its IP allowlist, or a change "
        "beyond what your own rights allow (e.g. giving scopes you lack).",
        "Use a token or key with the scope, or ask an admin for it."),
    "NOT_FOUND": (
        "404", "No such path, or no such item visible to you (another owner's items, "
        "and live items to a sandbox key, answer 404 too).",
        "Check the path and the id."),
    "METHOD_NOT_ALLOWED": (
        "405", "The path exists, but not with this HTTP method.",
        "Use one of the methods listed for the path below."),
    "CONFLICT": (
        "409", "The change conflicts with the current state: a duplicate natural key "
        "(sku, email, name), a status transition that is not allowed, a concurrent change, "
        "or an Idempotency-Key whose first request is still running.",
        "Read the item again and retry if the change still makes sense."),
    "PAYLOAD_TOO_LARGE": (
        "413", "The body is larger than the limit (1 MiB by default).",
        "Send less per request."),
    "UNSUPPORTED_MEDIA_TYPE": (
        "415", "The body's Content-Type is not one this operation accepts.",
        "Send `Content-Type: application/json` (the OAuth token endpoints also take "
        "`application/x-www-form-urlencoded`)."),
    "RATE_LIMIT_EXCEEDED": (
        "429", "Over the hourly quota or the burst limit (100 a minute).",
        "Wait `Retry-After` seconds (also `error.retryAfter`); the `X-RateLimit-*` and "
        "`RateLimit` headers say how much is left."),
    "INTERNAL_ERROR": (
        "500", "Something failed on our side; nothing about it is shown.",
        "Retry later; quote `requestId` when reporting it."),
    "SERVICE_UNAVAILABLE": (
        "503", "A dependency is unavailable for a moment.",
        "Retry after a short wait."),
}


def anchor(code: str) -> str:
    """The id of a code's entry on the docs page."""
    return "errors-" + code.lower().replace("_", "-")


def link(code: str) -> str:
    """An error's `documentation`: the code's entry on /api/docs."""
    return f"/api/docs#{anchor(code)}"
