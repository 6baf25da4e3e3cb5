"""Typed errors raised by services; only the edge turns them into HTTP bodies."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 500
    code = "INTERNAL_ERROR"
    default_message = "An internal error occurred."
    meaning = ("Something failed on our side; nothing about it is shown.")
    remedy = ("Retry later; quote `requestId` when reporting it.")
    oauth_error = "server_error"

    def __init__(
        self,
        message: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        self.extra = extra or {}


class ValidationFailed(AppError):
    status = 400
    code = "VALIDATION_ERROR"
    default_message = "The request is not valid."
    meaning = ("400: the body could not be parsed (bad JSON or form), or a query parameter or "
        "header is not valid. 422: the body parsed but a field has the wrong type, is "
        "missing or unknown, or refers to something that does not exist.")
    remedy = ("Fix the fields listed in `details` (one entry per field) and send again.")
    oauth_error = "invalid_request"


class Unprocessable(ValidationFailed):
    status = 422


class AuthenticationFailed(AppError):
    status = 401
    code = "AUTHENTICATION_ERROR"
    default_message = "Authentication is required."
    meaning = ("No credentials, or credentials that are not valid: a bad or revoked token, "
        "an unknown, revoked or expired API key, a wrong, stale or replayed request "
        "signature.")
    remedy = ("Send `Authorization: Bearer <token>` or `X-API-Key`; see `WWW-Authenticate`.")
    oauth_error = "invalid_client"

    def __init__(self, message: str | None = None, *, error: str = "invalid_token",
                 details: Any = None) -> None:
        desc = (message or self.default_message).replace('"', "'")
        challenge = 'Bearer realm="gatehouse"'
        if error:
            challenge += f', error="{error}", error_description="{desc}"'
        super().__init__(message, details, headers={"WWW-Authenticate": challenge})


class TokenExpired(AuthenticationFailed):
    code = "TOKEN_EXPIRED"
    default_message = "The access token has expired."
    meaning = ("The access token has expired.")
    remedy = ("Get a new one: `POST /api/v2/oauth/token` (client credentials or refresh token) "
        "or `POST /api/v2/auth/refresh`.")


class Forbidden(AppError):
    status = 403
    code = "AUTHORIZATION_ERROR"
    default_message = "You are not allowed to do this."
    meaning = ("Authenticated, but without the scope this operation needs (listed per "
        "operation below), an API key used from outside its IP allowlist, or a change "
        "beyond what your own rights allow (e.g. giving scopes you lack).")
    remedy = ("Use a token or key with the scope, or ask an admin for it.")
    oauth_error = "insufficient_scope"


class NotFound(AppError):
    status = 404
    code = "NOT_FOUND"
    default_message = "The resource was not found."
    meaning = ("No such path, or no such item visible to you (another owner's items, "
        "and live items to a sandbox key, answer 404 too).")
    remedy = ("Check the path and the id.")


class MethodNotAllowed(AppError):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "This method is not allowed on this path."
    meaning = ("The path exists, but not with this HTTP method.")
    remedy = ("Use one of the methods listed for the path below.")


class Conflict(AppError):
    status = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."
    meaning = ("The change conflicts with the current state: a duplicate natural key "
        "(sku, email, name), a status transition that is not allowed, a concurrent change, "
        "or an Idempotency-Key whose first request is still running.")
    remedy = ("Read the item again and retry if the change still makes sense.")


class PayloadTooLarge(AppError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."
    meaning = ("The body is larger than the limit (1 MiB by default).")
    remedy = ("Send less per request.")
    oauth_error = "invalid_request"


class UnsupportedMediaType(AppError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "The request body's media type is not supported."
    meaning = ("The body's Content-Type is not one this operation accepts.")
    remedy = ("Send `Content-Type: application/json` (the OAuth token endpoints also take "
        "`application/x-www-form-urlencoded`).")
    oauth_error = "invalid_request"


class RateLimited(AppError):
    status = 429
    code = "RATE_LIMIT_EXCEEDED"
    default_message = "Too many requests."
    meaning = ("Over the hourly quota or the burst limit (100 a minute).")
    remedy = ("Wait `Retry-After` seconds (also `error.retryAfter`); the `X-RateLimit-*` and "
        "`RateLimit` headers say how much is left.")
    oauth_error = "slow_down"

    def __init__(self, retry_after: int, headers: dict[str, str] | None = None,
                 message: str | None = None, *, breach: str = "") -> None:
        hdrs = dict(headers or {})
        hdrs["Retry-After"] = str(retry_after)
        super().__init__(message, headers=hdrs, extra={"retryAfter": retry_after})
        self.retry_after = retry_after
        # The verified principal refused ("client:<id>"), if any: the edge counts the 429
        # against it, else against the masked IP.
        self.breach = breach


class Unavailable(AppError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is unavailable; try again later."
    meaning = ("A dependency is unavailable for a moment (DynamoDB throttling, say).")
    remedy = ("Retry after `Retry-After` seconds.")


class OAuthError(Exception):
    """RFC 6749 §5.2 errors, for the OAuth endpoints only."""

    def __init__(self, error: str, description: str, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}


def _declared(cls: type[AppError] = AppError) -> list[type[AppError]]:
    """Every error class, a parent before its children."""
    return [cls] + [c for sub in cls.__subclasses__() for c in _declared(sub)]


def _derive() -> tuple[dict[int, type[AppError]], dict[str, tuple[str, str, str]]]:
    by_status: dict[int, type[AppError]] = {}
    statuses: dict[str, list[int]] = {}
    first: dict[str, type[AppError]] = {}
    for cls in _declared():
        by_status.setdefault(cls.status, cls)
        statuses.setdefault(cls.code, [])
        if cls.status not in statuses[cls.code]:
            statuses[cls.code].append(cls.status)
        first.setdefault(cls.code, cls)
    codes = sorted(first, key=lambda code: min(statuses[code]))
    docs = {code: (", ".join(str(s) for s in sorted(statuses[code])), first[code].meaning,
                   first[code].remedy) for code in codes}
    return by_status, docs


# Derived from the classes above, the one declaration of each error: the class that
# answers a status (for errors Chalice answers itself) and, per code, its statuses,
# meaning and remedy (the docs page, the OpenAPI enum and responses).
ERROR_FOR_STATUS, ERRORS = _derive()
ERROR_CODES: dict[int, str] = {status: cls.code for status, cls in ERROR_FOR_STATUS.items()}


def error_for_status(status: int) -> AppError:
    """The error of a status that Chalice answered itself (405, 415, 500...)."""
    cls = ERROR_FOR_STATUS.get(status) or (AppError if status >= 500 else ValidationFailed)
    return cls()


def anchor(code: str) -> str:
    """The id of a code's entry on the docs page."""
    return "errors-" + code.lower().replace("_", "-")


def link(code: str) -> str:
    """An error's `documentation`: the code's entry on /api/docs."""
    return f"/api/docs#{anchor(code)}"
