"""The contract's response shapes; the only place error bodies are built."""

from __future__ import annotations

import json
from typing import Any

from chalice import Response

from chalicelib.core import clock
from chalicelib.core.errors import AppError, OAuthError, error_for_status, link

JSON = "application/json"


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), default=str)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    hdrs: dict[str, str | list[str]] = {"Content-Type": JSON}
    hdrs.update(headers or {})
    return Response(body=dumps(body), status_code=status, headers=hdrs)


def error_body(code: str, message: str, request_id: str, details: Any = None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {
        "code": code,
        "message": message,
        "details": details if details is not None else [],
        "requestId": request_id,
        "timestamp": clock.iso(),
        "documentation": link(code),
    }
    err.update(extra or {})
    return {"error": err}


def error_response(exc: AppError, request_id: str) -> Response:
    return json_response(error_body(exc.code, exc.message, request_id, exc.details, exc.extra),
                         exc.status, exc.headers)


def oauth_error_response(exc: OAuthError) -> Response:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    headers.update(exc.headers)
    return json_response({"error": exc.error, "error_description": exc.description},
                         exc.status, headers)


# Chalice answers some errors itself ({"Code","Message"} bodies); map them to ours.
def is_chalice_error(body: Any) -> bool:
    return isinstance(body, dict) and set(body) == {"Code", "Message"}


def from_chalice_error(status: int, request_id: str, headers: dict[str, str]) -> Response:
    exc = error_for_status(status)
    return json_response(error_body(exc.code, exc.message, request_id), status, headers)
