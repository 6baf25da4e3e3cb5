"""The route registry: each route declares its scopes, models and docs next to its
handler; the edge reads it to guard the request and the OpenAPI generator to document it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from chalice import Blueprint, Response

from chalicelib.core.errors import (
    AppError,
    OAuthError,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.core.scopes import SCOPES
from chalicelib.http import context, envelope
from chalicelib.http.context import RequestContext

VERSIONS = ("v1", "v2")
# Chalice refuses other media types itself; we accept every one we may parse and
# answer 415 ourselves, in the contract's envelope, per route.
CHALICE_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/csv",
                 "text/plain", "application/xml", "text/xml", "application/octet-stream",
                 "multipart/form-data", "application/merge-patch+json"]
JSON_ONLY = ("application/json",)


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: bool = False  # body is already text/bytes


@dataclass
class RouteSpec:
    path: str
    method: str
    name: str
    handler: Callable[..., Any]
    scopes: tuple[str, ...] = ()
    auth: str = "required"  # required | none
    limited: bool = True
    body: Any = None
    query: Any = None
    response: Any = None
    status: int = 200
    summary: str = ""
    description: str = ""
    tag: str = ""
    oauth: bool = False
    media: tuple[str, ...] = JSON_ONLY
    version: str = ""
    idempotent: bool = True
    logged: bool = True  # written to the access log
    errors: tuple[int, ...] = ()  # statuses beyond those the edge itself may answer
    content_type: str = "application/json"  # of the success answer, for the docs
    answers: tuple[int, ...] = ()  # other success statuses (a 202 still running, a 302)


Handler = Callable[..., Any]
REGISTRY: dict[tuple[str, str], RouteSpec] = {}
PATHS: set[str] = set()


def lookup(resource: str, method: str) -> RouteSpec | None:
    return REGISTRY.get((resource, method))


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def with_secret(ctx: RequestContext, collection: str, data: dict[str, Any],
                status: int) -> Reply:
    """An answer that shows a secret once: never cached, with the resource's URL."""
    location = f"/api/{ctx.version or 'v1'}/{collection}/{data['id']}"
    return Reply({"data": data}, status, {**NO_STORE, "Location": location})


def ok(data: Any, meta: dict[str, Any] | None = None, status: int = 200) -> Reply:
    body: dict[str, Any] = {"data": data}
    if meta:
        body["meta"] = meta
    return Reply(body, status)


def page(items: list[Any], next_cursor: str | None, per_page: int) -> Reply:
    return Reply({"data": items, "pagination": {"perPage": per_page, "nextCursor": next_cursor,
                                                "hasMore": next_cursor is not None}})


def _validation_details(exc: Any) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        message = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            message = "Unknown field."
        details.append({"field": loc, "message": message, "type": err.get("type", "")})
    return details


def media_type(ctx: RequestContext) -> str:
    return ctx.header("content-type").split(";")[0].strip().lower()


def parse_body(ctx: RequestContext, spec: RouteSpec) -> Any:
    raw = ctx.raw_body or b""
    kind = media_type(ctx) or ("application/json" if raw else "")
    if raw and kind not in spec.media:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(spec.media)}.",
            details=[{"field": "Content-Type", "message": f"{kind or 'missing'} not accepted"}])
    if kind == "application/x-www-form-urlencoded":
        try:
            data: Any = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise ValidationFailed("The form body is not valid UTF-8.") from exc
    elif not raw.strip():
        data = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValidationFailed("The request body is not valid JSON.",
                                   details=[{"field": "body", "message": str(exc)[:200]}]
                                   ) from exc
    if spec.body is None:
        return data
    return validate(spec.body, data, raw if kind == "application/json" and raw.strip() else None)


def validate(model: Any, data: Any, raw_json: bytes | None = None) -> Any:
    """JSON bodies are validated strictly: "100" is not a number, "yes" not a boolean
    (form bodies are all strings by nature)."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise Unprocessable("The request body must be a JSON object.",
                            details=[{"field": "body", "message": "expected an object"}])
    try:
        if raw_json is not None:
            return model.model_validate_json(raw_json, strict=True)
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable("Some fields are not valid.", details=_validation_details(exc)
                            ) from exc


def parse_query(ctx: RequestContext, model: Any) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate(ctx.query)
    except ValidationError as exc:
        raise ValidationFailed("Some query parameters are not valid.",
                               details=_validation_details(exc)) from exc


def to_response(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, Reply):
        if result.raw:
            return Response(body=result.body, status_code=result.status,
                            headers=dict(result.headers))
        return envelope.json_response(result.body, result.status if result.status != 200
                                      else status, result.headers)
    if result is None:
        return Response(body="", status_code=204, headers={})
    return envelope.json_response(result, status)


def _make_view(spec: RouteSpec) -> Callable[..., Response]:
    def view(**params: str) -> Response:
        ctx = context.current()
        try:
            kwargs: dict[str, Any] = dict(params)
            if spec.method in ("POST", "PUT", "PATCH") and (spec.body is not None
                                                           or spec.media != JSON_ONLY):
                kwargs["body"] = parse_body(ctx, spec)
            if spec.query is not None:
                kwargs["query"] = parse_query(ctx, spec.query)
            return to_response(spec.handler(ctx, **kwargs), spec.status)
        except Exception as exc:  # noqa: BLE001 - never let Chalice answer (in debug: a traceback)
            ctx.view_error = exc
            return error_answer(exc, spec, ctx.request_id)

    view.__name__ = spec.name
    return view


def error_answer(exc: Exception, spec: RouteSpec | None, request_id: str) -> Response:
    """The one place an exception becomes an answer: RFC 6749 form on the OAuth routes,
    the contract's envelope everywhere else; anything unexpected is logged and answers
    500 without a trace."""
    if isinstance(exc, OAuthError):
        return envelope.oauth_error_response(exc)
    if not isinstance(exc, AppError):
        from chalicelib.core.logging import get_logger

        if _throttled(exc):
            get_logger().warning("dependency throttled")  # the edge bound the request id
            exc = Unavailable(headers={"Retry-After": "1"})
        else:
            get_logger().exception("unhandled error")
            exc = AppError()
    if spec is not None and spec.oauth:
        return envelope.oauth_error_response(as_oauth_error(exc))
    return envelope.error_response(exc, request_id)


# AWS's answers to "too much at once": the caller may retry, so 503 rather than 500.
THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "ServiceUnavailable", "LimitExceededException", "TransactionInProgressException"})


def _throttled(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return (isinstance(exc, ClientError)
            and exc.response.get("Error", {}).get("Code", "") in THROTTLING_CODES)


def as_oauth_error(exc: AppError) -> OAuthError:
    # RFC 6749 §5.2: a malformed request is a 400, whatever our own code says.
    status = 400 if exc.status == 422 else exc.status
    return OAuthError(exc.oauth_error, exc.message, status, exc.headers)


class ApiBlueprint:
    """A Chalice blueprint whose routes carry their contract."""

    def __init__(self, import_name: str, tag: str) -> None:
        self.blueprint = Blueprint(import_name)
        self.tag = tag

    def route(self, path: str, method: str = "GET", *, scopes: tuple[str, ...] = (),
              auth: str = "required", body: Any = None, query: Any = None,
              response: Any = None, status: int = 200, summary: str = "",
              oauth: bool = False, media: tuple[str, ...] = JSON_ONLY,
              versioned: bool = True, limited: bool = True,
              idempotent: bool = True, logged: bool = True, errors: tuple[int, ...] = (),
              content_type: str = "application/json", answers: tuple[int, ...] = (),
              ) -> Callable[[Handler], Handler]:
        # A misspelt scope would make the route refuse everyone: fail at import instead.
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise ValueError(f"route {method} {path} declares unknown scope(s) "
                             f"{', '.join(unknown)}: declare the resource (or add the "
                             "platform scope) first")

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            targets = [(f"/api/{v}{path}", v) for v in VERSIONS] if versioned else [(path, "")]
            for full, version in targets:
                spec = RouteSpec(
                    path=full, method=method, name=f"{fn.__name__}_{version or 'root'}",
                    handler=fn, scopes=scopes, auth=auth, limited=limited, body=body,
                    query=query, response=response, status=status,
                    summary=summary or (fn.__doc__ or "").strip().split("\n")[0],
                    description=(fn.__doc__ or "").strip(), tag=self.tag, oauth=oauth,
                    media=media, version=version, idempotent=idempotent, logged=logged,
                    errors=errors, content_type=content_type, answers=answers)
                if (full, method) in REGISTRY:
                    raise ValueError(f"route {method} {full} declared twice")
                REGISTRY[(full, method)] = spec
                self.blueprint.route(full, methods=[method], content_types=CHALICE_TYPES,
                                     name=spec.name)(_make_view(spec))
                if full not in PATHS:
                    PATHS.add(full)
                    self.blueprint.route(full, methods=["OPTIONS"], content_types=CHALICE_TYPES,
                                         name=f"preflight_{len(PATHS)}")(_preflight)
            return fn

        return deco


def _preflight(**_params: str) -> Response:
    # The edge answers preflights before the view runs; this only gives API Gateway
    # an OPTIONS method to route to the app.
    return Response(body="", status_code=204)
