"""/api/v1/integrations: the connector catalog and the configured connections (scope
integrations:manage; own connections only, an admin sees all; another owner's answers
404). Syncs, logs and status are in the sync side's own blueprint.

Wherever a path takes `{integration_id}`, a connector type (`erp`, `rest`...) may stand
for it: the caller's own connection of that type (integrations/bytype.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.core.lazy import on_first_call
from chalicelib.http.context import RequestContext
from chalicelib.http.models import Body
from chalicelib.http.registry import ApiBlueprint, Reply, ok, page
from chalicelib.integrations.models import (
    CONFIG,
    CREDENTIALS,
    MAX_OBJECT_KEYS,
    ChangeConnection,
    CreateConnection,
    ListConnections,
    ReplaceConnection,
)

api = ApiBlueprint(__name__, "Integrations")

# Imported by the first call, not at every function's cold start.
_service = on_first_call("chalicelib.integrations.service")
_bytype = on_first_call("chalicelib.integrations.bytype")

SCOPE = ("integrations:manage",)
ONE = "/integrations/{integration_id}"


class ConnectByType(Body):
    """POST /integrations/{type}/connect: the connection's settings; the type is the
    path's. A first connect needs what the type's schemas require."""

    name: str | None = Field(None, min_length=1, max_length=100, description=(
        "A label (default: the type's title)."))
    config: dict[str, Any] | None = Field(None, max_length=MAX_OBJECT_KEYS,
                                          description=CONFIG)
    credentials: dict[str, Any] | None = Field(None, max_length=MAX_OBJECT_KEYS,
                                               description=CREDENTIALS)


def ref(ctx: RequestContext, integration_id: str) -> str:
    """The connection id a path names: an id, or a connector type (the TaskFlow brief's
    `/integrations/:type/...`)."""
    return str(_bytype().resolve(ctx.actor, integration_id))


# Declared before ONE's routes; the route tables match fixed segments before captures
# anyway (API Gateway by specificity, Chalice's local matcher by sorting).
@api.route("/integrations/catalog", summary="The connector types")
def integration_catalog(ctx: RequestContext) -> Reply:
    """Every connector type: `directions` (pull, push, send, inbound), the JSON Schemas
    of its `config` (`configSchema`) and `credentials` (`credentialsSchema`, null if it
    takes none), and `template: true` for presets (a starting mapping over the generic
    REST type, not a certified vendor adapter)."""
    types = _service().catalog()
    return ok(types, {"count": len(types)})


@api.route("/integrations", scopes=SCOPE, query=ListConnections, summary="List integrations")
def list_integrations(ctx: RequestContext, query: ListConnections) -> Reply:
    """The caller's connections (an admin: everyone's), newest first; never credentials,
    only which credential fields are set."""
    items, cursor = _service().listing(ctx.actor, query)
    return page(items, cursor, query.per_page)


@api.route("/integrations", "POST", scopes=SCOPE, body=CreateConnection, status=201,
           summary="Create an integration", errors=(409,))
def create_integration(ctx: RequestContext, body: CreateConnection) -> Reply:
    """`config` and `credentials` follow the type's schemas (GET /integrations/catalog);
    422 names each bad field (`config.<field>`, `credentials.<field>`) without echoing a
    credential. Every URL in `config` must be a public address (the webhooks' SSRF
    rules). Credentials are stored encrypted and never answered: `credentialsSet` and
    `credentialFields` say what is set."""
    data = _service().create(ctx.actor, body)
    location = f"/api/{ctx.version or 'v1'}/integrations/{data['id']}"
    return Reply({"data": data}, 201, {"Location": location})


@api.route(ONE, scopes=SCOPE, summary="Get an integration")
def get_integration(ctx: RequestContext, integration_id: str) -> Reply:
    """The connection, never its credentials. `{integration_id}` may be a connector type
    instead (`/integrations/erp`): your one connection of that type (404 if none, 409
    if several)."""
    return ok(_service().get(ctx.actor, ref(ctx, integration_id)))


@api.route(ONE, "PUT", scopes=SCOPE, body=ReplaceConnection, errors=(409,),
           summary="Update an integration, or rotate its credentials")
def replace_integration(ctx: RequestContext, integration_id: str,
                        body: ReplaceConnection) -> Reply:
    """`name`, `config` and `credentials`, each replaced whole when given (a new config
    is validated and checked as at creation). New `credentials` replace every old one
    (rotation: the old values are gone); absent or null keeps them. With `version`, 409
    if the connection changed since you read it."""
    return ok(_service().replace(ctx.actor, ref(ctx, integration_id), body))


@api.route(ONE, "PATCH", scopes=SCOPE, body=ChangeConnection, errors=(409,),
           summary="Rename, pause or resume an integration")
def change_integration(ctx: RequestContext, integration_id: str,
                       body: ChangeConnection) -> Reply:
    """`status: paused` stops its syncs, pushes and inbound events until `active`."""
    return ok(_service().change(ctx.actor, ref(ctx, integration_id), body))


@api.route(ONE, "DELETE", scopes=SCOPE, status=204, summary="Delete an integration")
def delete_integration(ctx: RequestContext, integration_id: str) -> None:
    """Its credentials go with it; a pending sync is cancelled. `DELETE
    /integrations/{type}` disconnects your one connection of that type (the TaskFlow
    brief's)."""
    _service().delete(ctx.actor, ref(ctx, integration_id))


@api.route(f"{ONE}/test", "POST", scopes=SCOPE, summary="Test an integration's connection")
def test_integration(ctx: RequestContext, integration_id: str) -> Reply:
    """Runs the type's own check (an S3 drop: HeadBucket on its bucket) and answers
    `{ok, message, detail, testedAt}`; a failed check is `ok: false`, not an error."""
    return ok(_service().run_test(ctx.actor, ref(ctx, integration_id)))


@api.route(f"{ONE}/connect", "POST", scopes=SCOPE, body=ConnectByType, answers=(201,),
           errors=(409,), summary="Connect an integration by type")
def connect_integration(ctx: RequestContext, integration_id: str,
                        body: ConnectByType) -> Reply:
    """The TaskFlow brief's `POST /integrations/:type/connect`: `{integration_id}` is a
    connector type. Creates your connection of that type (201; `name` defaults to the
    type's title) or reconfigures the one you have (200; `config` and `credentials`
    replaced whole, as PUT does). 409 if you have several of that type: address one by
    id. Then `GET /integrations/{type}/status`, `POST /{type}/sync`, `DELETE /{type}`."""
    data, created = _bytype().connect(ctx.actor, integration_id,
                                      body.model_dump(exclude_none=True))
    if created:
        location = f"/api/{ctx.version or 'v1'}/integrations/{data['id']}"
        return Reply({"data": data}, 201, {"Location": location})
    return ok(data)
