"""/api/docs: the OpenAPI document (JSON and YAML)."""

from __future__ import annotations

import json

from chalicelib.docs import openapi
from chalicelib.http.context import RequestContext
from chalicelib.http.routes import ApiBlueprint, Reply

api = ApiBlueprint(__name__, "Docs")


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
