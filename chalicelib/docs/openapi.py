"""The OpenAPI 3.1 document, generated from the route registry and the pydantic models
that also validate the requests: one source of truth."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from chalicelib.core.errors import ERROR_CODES, ERRORS
from chalicelib.core.scopes import SCOPES
from chalicelib.http import registry

_PARAM = re.compile(r"{([^}]+)}")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details", "requestId", "timestamp", "documentation"],
        "properties": {
            "code": {"type": "string", "enum": sorted(ERRORS)},
            "message": {"type": "string"}, "details": {},
            "requestId": {"type": "string"}, "timestamp": {"type": "string",
                                                          "format": "date-time"},
            "documentation": {"type": "string", "description":
                              "/api/docs#errors-<code>: what the code means."},
            "retryAfter": {"type": "integer"}}}}}
OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}
RATE_HEADERS = {name: {"schema": {"type": "string"}, "description": desc} for name, desc in (
    ("X-RateLimit-Limit", "Hourly quota."), ("X-RateLimit-Remaining", "Left this hour."),
    ("X-RateLimit-Reset", "Unix time the hourly window resets."),
    ("RateLimit-Policy", "draft-ietf-httpapi-ratelimit-headers-10 policies."),
    ("RateLimit", "draft-ietf-httpapi-ratelimit-headers-10 remaining quota."),
    ("X-Request-Id", "The request's id."))}


def _schema(model: Any, components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_params(model: Any) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required,
             "schema": _without_null(prop), "description": prop.get("description", "")}
            for name, prop in schema.get("properties", {}).items()]


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string, never JSON null: `str | None` documents
    as its string branch."""
    out = {k: v for k, v in prop.items() if k not in ("title", "default")
           or (k == "default" and v is not None)}
    branches = out.get("anyOf")
    if branches:
        kept = [b for b in branches if b.get("type") != "null"]
        out.pop("anyOf")
        out.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
    return out


# Success answers besides a route's own status, for the routes that declare them.
ALTERNATIVES: dict[int, dict[str, Any]] = {
    201: {"description": "Created (the Location header names it).",
          "headers": {"Location": {"schema": {"type": "string"}}, **RATE_HEADERS},
          "content": {"application/json": {"schema": {"type": "object"}}}},
    202: {"description": "Accepted: still running; follow the Location header.",
          "headers": {"Location": {"schema": {"type": "string"}}, **RATE_HEADERS},
          "content": {"application/json": {"schema": {"type": "object"}}}},
    302: {"description": "Found: the file at a presigned URL that expires (the Location "
                         "header); `Accept: application/json` answers it as JSON instead.",
          "headers": {"Location": {"schema": {"type": "string", "format": "uri"}},
                      **RATE_HEADERS}},
}


def _errors(spec: registry.RouteSpec) -> dict[str, Any]:
    statuses = [400, 429, 500, 503, *spec.errors]  # 503: AWS throttling
    if spec.auth == "required":
        statuses += [401, 403]
    if spec.oauth:
        statuses.append(401)  # client authentication
    if "{" in spec.path:
        statuses.append(404)
    if spec.body is not None:
        statuses += [413, 415, 422]
    if spec.method == "POST" and spec.idempotent:
        statuses += [409, 422]  # Idempotency-Key: still running / used with another body
    if spec.method in ("PUT", "PATCH", "DELETE") and not spec.oauth:
        statuses.append(409)  # writes are conditional: a concurrent change, a state refused
    ref = "#/components/schemas/OAuthError" if spec.oauth else "#/components/schemas/Error"
    return {str(s): {"description": ERROR_CODES[s],
                     "content": {"application/json": {"schema": {"$ref": ref}}}}
            for s in sorted(set(statuses))}


def _operation(spec: registry.RouteSpec, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec.name, "summary": spec.summary, "tags": [spec.tag],
        "description": spec.description, "responses": {},
        "x-required-scopes": list(spec.scopes),
    }
    if spec.version == "v1":
        op["deprecated"] = True
    params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
              for n in _PARAM.findall(spec.path)]
    if spec.query is not None:
        params += _query_params(spec.query)
    if spec.method == "POST" and spec.idempotent:
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "Replays the first answer for 24 h (a UUID is best; "
                                      "any 1-255 printable ASCII characters work).",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                                  # printable ASCII, no edge spaces (HTTP strips them)
                                  "pattern": "^[!-~]([ -~]*[!-~])?$"}})
    if params:
        op["parameters"] = params
    if spec.body is not None:
        ref = _schema(spec.body, components)
        body_schema = spec.body.model_json_schema(by_alias=True)
        required = bool(body_schema.get("required") or body_schema.get("minProperties"))
        op["requestBody"] = {"required": required,
                             "content": {media: {"schema": ref} for media in spec.media}}
    elif (raw := getattr(spec.handler, "request_body_doc", None)) is not None:
        op["requestBody"] = raw   # a route reading its raw body (a file) describes it
    if spec.auth == "required":
        op["security"] = [{"bearer": list(spec.scopes)}, {"apiKey": []}]
    else:
        op["security"] = []
    success = {"description": "OK", "headers": RATE_HEADERS}
    if spec.status != 204:
        answer = {"type": "object"} if spec.content_type == "application/json" else \
            {"type": "string"}  # a file (CSV text, an XLSX's bytes)
        success["content"] = {spec.content_type: {"schema": answer}}
    op["responses"][str(spec.status)] = success
    if spec.method == "DELETE":
        op["responses"]["204"] = {"description": "Done", "headers": RATE_HEADERS}
    for status in spec.answers:
        op["responses"][str(status)] = ALTERNATIVES[status]
    op["responses"].update(_errors(spec))
    return op


@lru_cache(maxsize=4)
def document(server: str = "") -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, "OAuthError": OAUTH_ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for (path, method), spec in sorted(registry.REGISTRY.items()):
        paths.setdefault(path, {})[method.lower()] = _operation(spec, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Gatehouse API", "version": "2.0.0",
                 "description": "API integration platform. v1 is deprecated (see the "
                                "Deprecation and Sunset headers); v2 is current."},
        "servers": [{"url": server or "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": "/api/v1/oauth/token", "scopes": SCOPES}}},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
