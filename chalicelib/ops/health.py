"""Liveness: answers without touching AWS so monitors can poll it cheaply."""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.core.settings import get_settings
from chalicelib.http.context import RequestContext
from chalicelib.http.registry import ApiBlueprint, Reply

api = ApiBlueprint(__name__, "Health")


@api.route("/api/health", auth="none", versioned=False, limited=False, logged=False,
           summary="Liveness of the API")
def health(ctx: RequestContext) -> Reply:
    body: dict[str, Any] = {"status": "ok", "stage": get_settings().stage,
                            "time": clock.iso(), "requestId": ctx.request_id}
    return Reply(body)
