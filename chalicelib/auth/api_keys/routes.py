"""API keys: CRUD, rotation, regeneration and usage (scope keys:manage; own keys only,
an admin sees all; another owner's key answers 404)."""

from __future__ import annotations

from chalicelib.auth.api_keys import service
from chalicelib.auth.api_keys.models import (
    CreateApiKey,
    ListApiKeys,
    RotateApiKey,
    UpdateApiKey,
    UsageQuery,
)
from chalicelib.http.context import RequestContext
from chalicelib.http.registry import ApiBlueprint, Reply, ok, page, with_secret

api = ApiBlueprint(__name__, "API keys")

SCOPE = ("keys:manage",)


@api.route("/api-keys", scopes=SCOPE, query=ListApiKeys, summary="List API keys")
def list_keys(ctx: RequestContext, query: ListApiKeys) -> Reply:
    """The caller's own keys (an admin: every key), newest first. Keys and secrets are
    never shown again after creation; `prefix` identifies a key."""
    items, cursor = service.list_keys(ctx.actor, query)
    return page(items, cursor, query.per_page)


@api.route("/api-keys", "POST", scopes=SCOPE, body=CreateApiKey, status=201,
           summary="Create an API key")
def create_key(ctx: RequestContext, body: CreateApiKey) -> Reply:
    """Answers the key with `key` and `secret` (for signed requests), shown this once.
    Scopes and rate limit cannot exceed the caller's own."""
    return with_secret(ctx, "api-keys", service.create_key(ctx.actor, body), 201)


@api.route("/api-keys/{key_id}", scopes=SCOPE, summary="Get an API key")
def get_key(ctx: RequestContext, key_id: str) -> Reply:
    return ok(service.get_key(ctx.actor, key_id))


@api.route("/api-keys/{key_id}", "PUT", scopes=SCOPE, body=UpdateApiKey,
           summary="Update an API key")
def update_key(ctx: RequestContext, key_id: str, body: UpdateApiKey) -> Reply:
    """Changes the given fields; `rateLimit: null` returns to the tier's limit."""
    return ok(service.update_key(ctx.actor, key_id, body))


@api.route("/api-keys/{key_id}", "DELETE", scopes=SCOPE, status=204,
           summary="Revoke an API key (at once)")
def revoke_key(ctx: RequestContext, key_id: str) -> None:
    service.revoke_key(ctx.actor, key_id)


@api.route("/api-keys/{key_id}/rotate", "POST", scopes=SCOPE, body=RotateApiKey,
           summary="Rotate an API key")
def rotate_key(ctx: RequestContext, key_id: str, body: RotateApiKey) -> Reply:
    """A new `key` and `secret` under the same id, shown this once. The old key (and
    its secret) keep working for `gracePeriodSeconds` (default 0, at most 7 days)."""
    return with_secret(ctx, "api-keys", service.rotate_key(ctx.actor, key_id,
                                                body.grace_period_seconds), 200)


@api.route("/api-keys/{key_id}/regenerate", "POST", scopes=SCOPE,
           summary="Regenerate an API key")
def regenerate_key(ctx: RequestContext, key_id: str) -> Reply:
    """The old key stops working at once; answers the new `key` and `secret`."""
    return with_secret(ctx, "api-keys", service.regenerate_key(ctx.actor, key_id), 200)


@api.route("/api-keys/{key_id}/usage", scopes=SCOPE, query=UsageQuery,
           summary="Usage of an API key per day")
def key_usage(ctx: RequestContext, key_id: str, query: UsageQuery) -> Reply:
    """Requests and errors per UTC day over `days` days (today included), the totals
    and when the key was last used."""
    return ok(service.usage(ctx.actor, key_id, query.days))
