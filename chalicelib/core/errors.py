"""Typed errors raised by services; only the edge turns them into HTTP bodies."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 500
    code = "INTERNAL_ERROR"
    default_message = "An internal error occurred."

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


class Unprocessable(ValidationFailed):
    status = 422


class AuthenticationFailed(AppError):
    status = 401
    code = "AUTHENTICATION_ERROR"
    default_message = "Authentication is required."

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


class Forbidden(AppError):
    status = 403
    code = "AUTHORIZATION_ERROR"
    default_message = "You are not allowed to do this."


class NotFound(AppError):
    status = 404
    code = "NOT_FOUND"
    default_message = "The resource was not found."


class MethodNotAllowed(AppError):
    status = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "This method is not allowed on this path."


class Conflict(AppError):
    status = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(AppError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


class UnsupportedMediaType(AppError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "The request body's media type is not supported."


class RateLimited(AppError):
    status = 429
    code = "RATE_LIMIT_EXCEEDED"
    default_message = "Too many requests."

    def __init__(self, retry_after: int, headers: dict[str, str] | None = None,
                 message: str | None = None) -> None:
        hdrs = dict(headers or {})
        hdrs["Retry-After"] = str(retry_after)
        super().__init__(message, headers=hdrs, extra={"retryAfter": retry_after})
        self.retry_after = retry_after


class Unavailable(AppError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is unavailable; try again later."


class OAuthError(Exception):
    """RFC 6749 §5.2 errors, for the OAuth endpoints only."""

    def __init__(self, error: str, description: str, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}
