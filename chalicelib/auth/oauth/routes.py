"""OAuth 2.0 endpoints, RFC 8414 metadata and the JWKS."""

from __future__ import annotations

from typing import Any

from chalicelib.auth import keyring, tokens
from chalicelib.auth.oauth import clients, repo, service
from chalicelib.auth.oauth.models import (
    CreateClient,
    GrantRequest,
    TokenOnly,
    TokenRequest,
    UpdateClient,
)
from chalicelib.auth.sessions import service as sessions
from chalicelib.auth.sessions.subjects import kind_of
from chalicelib.auth.users import repo as users
from chalicelib.core.errors import AuthenticationFailed, OAuthError
from chalicelib.core.scopes import SCOPES
from chalicelib.http.context import RequestContext
from chalicelib.http.models import PageQuery
from chalicelib.http.registry import NO_STORE, ApiBlueprint, Reply, ok, page

api = ApiBlueprint(__name__, "OAuth")

FORM_OR_JSON = ("application/x-www-form-urlencoded", "application/json")


def _token_reply(body: dict[str, Any]) -> Reply:
    return Reply(body, 200, dict(NO_STORE))


def _grant(ctx: RequestContext, body: TokenRequest, forced_grant: str | None = None) -> Reply:
    grant = forced_grant or body.grant_type
    if not grant:
        raise OAuthError("invalid_request", "grant_type is required.")
    creds = service.client_credentials_from(ctx.header("authorization"), body.client_id,
                                            body.client_secret)
    if grant == "client_credentials":
        client = service.authenticate_client(creds, ctx.ip)
        ctx.principal = repo.authenticated(client)
        return _token_reply(service.client_credentials_grant(client, body.scope, ctx.base_url))
    if grant == "refresh_token":
        if not body.refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required.")
        client = service.authenticate_client(creds, ctx.ip)
        ctx.principal = repo.authenticated(client)
        return _token_reply(service.refresh_grant(body.refresh_token, ctx.base_url,
                                                  client, scope=body.scope))
    raise OAuthError("unsupported_grant_type",
                     "Supported grant types: client_credentials, refresh_token.")


@api.route("/oauth/token", "POST", auth="none", limited=False, body=GrantRequest, oauth=True,
           media=FORM_OR_JSON, idempotent=False, summary="Token endpoint (RFC 6749)")
def token(ctx: RequestContext, body: GrantRequest) -> Reply:
    """Client credentials (§4.4) and refresh (§6, rotating). The client authenticates with
    HTTP Basic or client_id/client_secret in the body. A successful request counts against
    the client's limits; a failed one against the caller's IP."""
    return _grant(ctx, body)


@api.route("/oauth/refresh-token", "POST", auth="none", limited=False, body=TokenRequest,
           oauth=True, media=FORM_OR_JSON, idempotent=False,
           summary="Refresh an access token")
def refresh_token(ctx: RequestContext, body: TokenRequest) -> Reply:
    """The token endpoint with grant_type=refresh_token."""
    return _grant(ctx, body, "refresh_token")


@api.route("/oauth/refresh", "POST", auth="none", limited=False, body=TokenRequest,
           oauth=True, media=FORM_OR_JSON, idempotent=False,
           summary="Refresh an access token (the PRD's name for /oauth/refresh-token)")
def refresh_alias(ctx: RequestContext, body: TokenRequest) -> Reply:
    return _grant(ctx, body, "refresh_token")


@api.route("/oauth/revoke", "POST", auth="none", body=TokenOnly, oauth=True, media=FORM_OR_JSON,
           idempotent=False, summary="Revoke a token (RFC 7009)")
def revoke(ctx: RequestContext, body: TokenOnly) -> Reply:
    """Revokes an access or refresh token (a refresh token takes its family and their
    access tokens with it). Answers 200 even for unknown tokens."""
    creds = service.client_credentials_from(ctx.header("authorization"), body.client_id,
                                            body.client_secret)
    client = service.authenticate_client(creds, ctx.ip, charge=False) if creds else None
    service.revoke(body.token, ctx.base_url, client)
    return Reply({}, 200, dict(NO_STORE))


@api.route("/oauth/introspect", "POST", auth="none", body=TokenOnly, oauth=True,
           media=FORM_OR_JSON, idempotent=False, summary="Introspect a token (RFC 7662)")
def introspect(ctx: RequestContext, body: TokenOnly) -> Reply:
    """The caller authenticates as a client (Basic or body) or with a Bearer token. It
    learns about its own tokens; about anyone else's only with `tokens:introspect` (or
    `admin`): otherwise `{"active": false}`. Scopes are answered as they stand now."""
    from chalicelib.core.scopes import allows, sandboxed

    auth = ctx.header("authorization")
    if auth.lower().startswith("bearer "):
        try:
            claims = tokens.verify(auth[7:].strip(), ctx.base_url)
        except AuthenticationFailed as exc:
            raise OAuthError("invalid_client", exc.message, 401,
                             {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from exc
        subject = sessions.live_subject(claims)
        if subject is None:
            raise OAuthError("invalid_client", "The bearer token is revoked.", 401)
        caller = (kind_of(claims), str(claims["sub"]))
        scopes = sessions.token_scopes(claims, subject)
        if subject.get("sandbox"):
            scopes = sandboxed(scopes)
    else:
        creds = service.client_credentials_from(auth, body.client_id, body.client_secret)
        client = service.authenticate_client(creds, ctx.ip, charge=False)
        caller = ("client", str(client["clientId"]))
        scopes = repo.effective_scopes(client)
        if client.get("sandbox"):
            scopes = sandboxed(scopes)
    may_all = allows(scopes, ("tokens:introspect",))
    return Reply(service.introspect(body.token, ctx.base_url, caller, may_all), 200,
                 dict(NO_STORE))


@api.route("/oauth/token/validate", summary="Validate the request's bearer token")
def validate(ctx: RequestContext) -> Reply:
    """Introspects the token that authenticated this request (already checked for
    signature, expiry and revocation by the edge)."""
    principal = ctx.principal
    assert principal is not None
    if principal.kind == "api_key":
        return ok({"active": True, "token_type": "api_key", "keyId": principal.id,
                   "scope": " ".join(sorted(principal.scopes)), "sandbox": principal.sandbox})
    # The scopes as they stand now (within the client's and the owner's current ones).
    return ok({**sessions.active_claims(principal.claims),
               "scope": " ".join(sorted(principal.scopes))})


@api.route("/oauth/userinfo", summary="Who the bearer token belongs to")
def userinfo(ctx: RequestContext) -> Reply:
    """OpenID Connect style claims of the caller (plain JSON, as OAuth clients expect)."""
    principal = ctx.principal
    assert principal is not None
    info: dict[str, Any] = {"sub": principal.id, "principal_type": principal.kind,
                            "scope": " ".join(sorted(principal.scopes)), "tier": principal.tier}
    if principal.kind == "user":
        user = users.get(principal.id) or {}
        info.update({"preferred_username": user.get("username"), "email": user.get("email"),
                     "roles": user.get("roles", [])})
    elif principal.kind == "client":
        client = repo.client_item(principal.id) or {}
        info.update({"client_id": principal.id, "name": client.get("name"),
                     "owner": client.get("owner")})
    else:
        info.update({"keyId": principal.id, "owner": principal.owner,
                     "sandbox": principal.sandbox})
    return Reply(info)


@api.route("/.well-known/oauth-authorization-server", auth="none", versioned=False,
           limited=False, logged=False, summary="Authorization server metadata (RFC 8414)")
def metadata(ctx: RequestContext) -> Reply:
    base = ctx.base_url
    return Reply({
        "issuer": base,
        "token_endpoint": f"{base}/api/v1/oauth/token",
        "revocation_endpoint": f"{base}/api/v1/oauth/revoke",
        "introspection_endpoint": f"{base}/api/v1/oauth/introspect",
        "userinfo_endpoint": f"{base}/api/v1/oauth/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic",
                                                       "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "scopes_supported": sorted(SCOPES),
        "service_documentation": f"{base}/api/docs",
    }, 200, {"Cache-Control": "public, max-age=300"})


@api.route("/.well-known/jwks.json", auth="none", versioned=False, limited=False, logged=False,
           summary="Public keys of the access tokens (RFC 7517)")
def jwks(ctx: RequestContext) -> Reply:
    return Reply(tokens.jwks(), 200, {"Cache-Control": "public, max-age=300"})


@api.route("/oauth/keys/rotate", "POST", scopes=("admin",), idempotent=False,
           summary="Rotate the token signing key")
def rotate_keys(ctx: RequestContext) -> Reply:
    """New tokens are signed with a new key; the old key stays in the JWKS until the
    tokens it signed have expired."""
    from chalicelib.events import audit

    kid = keyring.rotate_signing_key()
    audit.record(ctx.principal, "oauth.signing_key.rotate", "signing_key", kid, {})
    return ok({"kid": kid, "keys": [k["kid"] for k in keyring.published_keys()]})


# -- clients ------------------------------------------------------------------------

@api.route("/oauth/clients", scopes=("clients:manage",), query=PageQuery,
           summary="List OAuth clients")
def list_clients(ctx: RequestContext, query: PageQuery) -> Reply:
    principal = ctx.principal
    assert principal is not None
    # A sandbox caller sees sandbox clients only (a live one answers 404 to it too).
    items, cursor = repo.list_clients(None if principal.is_admin else principal.owner,
                                      query.cursor, query.per_page,
                                      (lambda i: bool(i.get("sandbox")))
                                      if principal.sandbox else None)
    return page([clients.public_client(i) for i in items], cursor, query.per_page)


@api.route("/oauth/clients", "POST", scopes=("clients:manage",), body=CreateClient,
           status=201, summary="Create an OAuth client")
def create_client(ctx: RequestContext, body: CreateClient) -> Reply:
    """Answers the client with its `client_secret`, shown this once (stored hashed)."""
    created = clients.create_client(ctx.principal, body)
    location = f"/api/v1/oauth/clients/{created['client_id']}"
    return Reply({"data": created}, 201, {**NO_STORE, "Location": location})


@api.route("/oauth/clients/{client_id}", scopes=("clients:manage",), summary="Get a client")
def get_client(ctx: RequestContext, client_id: str) -> Reply:
    assert ctx.principal is not None
    return ok(clients.public_client(clients.visible_client(ctx.principal, client_id)))


@api.route("/oauth/clients/{client_id}", "PUT", scopes=("clients:manage",), body=UpdateClient,
           summary="Update a client")
def update_client(ctx: RequestContext, client_id: str, body: UpdateClient) -> Reply:
    assert ctx.principal is not None
    return ok(clients.update_client(ctx.principal, client_id, body))


@api.route("/oauth/clients/{client_id}", "DELETE", scopes=("clients:manage",),
           summary="Delete a client (its tokens stop working at once)")
def delete_client(ctx: RequestContext, client_id: str) -> None:
    assert ctx.principal is not None
    clients.delete_client(ctx.principal, client_id)
