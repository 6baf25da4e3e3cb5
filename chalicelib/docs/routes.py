"""/api/docs: the API reference page, and the OpenAPI document (JSON and YAML)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from chalicelib.docs import openapi, page
from chalicelib.http.context import RequestContext
from chalicelib.http.models import Query
from chalicelib.http.registry import ApiBlueprint, Reply

api = ApiBlueprint(__name__, "Docs")
# The page is self-contained: inline style, no script, nothing fetched.
PAGE_HEADERS = {"Content-Type": "text/html; charset=utf-8",
                "Cache-Control": "public, max-age=300",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


class DocsQuery(Query):
    version: Literal["v1", "v2"] = Field("v2", description="Which version's operations.")


@api.route("/api/docs", auth="none", versioned=False, limited=False, logged=False,
           query=DocsQuery, content_type="text/html", summary="The API reference (HTML)")
def docs_page(ctx: RequestContext, query: DocsQuery) -> Reply:
    """Every operation by tag (method, path, summary, scopes) and the error codes that
    each error's `documentation` link points to (`#errors-<code>`)."""
    return Reply(page.render(query.version), 200, dict(PAGE_HEADERS), raw=True)


@api.route("/api/docs/openapi.json", auth="none", versioned=False, limited=False,
           logged=False, summary="The OpenAPI document")
def openapi_json(ctx: RequestContext) -> Reply:
    return Reply(openapi.document(ctx.base_url), 200, {"Cache-Control": "public, max-age=300"})


@api.route("/api/docs/openapi.yaml", auth="none", versioned=False, limited=False,
           logged=False, content_type="application/yaml",
           summary="The OpenAPI document as YAML")
def openapi_yaml(ctx: RequestContext) -> Reply:
    # JSON is valid YAML 1.2: no YAML library needed at run time.
    body = json.dumps(openapi.document(ctx.base_url), indent=1)
    return Reply(body, 200, {"Content-Type": "application/yaml"}, raw=True)
