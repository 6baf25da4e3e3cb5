"""OAuth 2.0: client credentials, refresh rotation, revocation, introspection, metadata,
JWKS and key rotation, clients CRUD (RFC 6749, 6750, 7009, 7662, 8414, 9068)."""

from __future__ import annotations

import json

import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from tests.component.helpers import (
    FORM,
    assert_error,
    assert_oauth_error,
    client_grant,
    jwt_parts,
    make_client,
    raw_item,
    refresh_with,
    snapshot,
    token_form,
)
from tests.conftest import ADMIN_SECRET, basic, client_token

ISSUER = "http://testserver"


def _verify_with_jwks(api, token):
    keys = api.get("/.well-known/jwks.json").json["keys"]
    head, _ = jwt_parts(token)
    jwk = next(k for k in keys if k["kid"] == head["kid"])
    key = RSAAlgorithm.from_jwk(json.dumps(jwk))
    return jwt.decode(token, key, algorithms=["RS256"], audience="gatehouse-api",
                      issuer=ISSUER)


# -- token endpoint ---------------------------------------------------------------------

def test_client_credentials_basic_token_shape_and_jwt(api):
    resp = client_grant(api, "admin", ADMIN_SECRET)
    assert resp.status_code == 200, resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "admin"
    assert body["refresh_token"].startswith("grt_")
    head, _ = jwt_parts(body["access_token"])
    assert head["alg"] == "RS256" and head["typ"] == "at+jwt" and head["kid"]
    claims = _verify_with_jwks(api, body["access_token"])
    assert {"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} <= set(claims)
    assert claims["iss"] == ISSUER and claims["aud"] == "gatehouse-api"
    assert claims["sub"] == "admin" and claims["client_id"] == "admin"
    assert claims["exp"] - claims["iat"] == 3600
    # the PyJWKSet form verifies too
    jwks = jwt.PyJWKSet.from_dict(api.get("/.well-known/jwks.json").json)
    key = next(k for k in jwks.keys if k.key_id == head["kid"])
    assert jwt.decode(body["access_token"], key.key, algorithms=["RS256"],
                      audience="gatehouse-api")["jti"] == claims["jti"]


def test_client_secret_post_and_json_body(api):
    form = f"grant_type=client_credentials&client_id=admin&client_secret={ADMIN_SECRET}"
    resp = token_form(api, form)
    assert resp.status_code == 200, resp.body
    assert resp.json["token_type"] == "Bearer"
    resp = api.post("/api/v1/oauth/token", {"grant_type": "client_credentials",
                                            "client_id": "admin",
                                            "client_secret": ADMIN_SECRET})
    assert resp.status_code == 200, resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    assert api.as_bearer(resp.json["access_token"]).get(
        "/api/v1/oauth/token/validate").status_code == 200


@pytest.mark.parametrize("client_id,secret", [("admin", "wrong"), ("nobody", "x")])
def test_bad_client_is_invalid_client_and_charges_nothing(api, client_id, secret):
    before = snapshot()
    resp = client_grant(api, client_id, secret)
    err = assert_oauth_error(resp, 401, "invalid_client")
    assert err["error_description"]
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert snapshot() == before
    # the client's own counters were not touched by a failed attempt
    item = raw_item("CLIENT#admin", "CLIENT")
    assert not [k for k in item if k.startswith("rl_")]
    assert raw_item("CLIENT#nobody", "CLIENT") is None


def test_missing_client_authentication(api):
    resp = token_form(api, "grant_type=client_credentials")
    assert_oauth_error(resp, 401, "invalid_client")
    assert "WWW-Authenticate" in resp.headers


def test_unsupported_grant_and_invalid_request(api):
    resp = token_form(api, "grant_type=password&username=a&password=b",
                      basic("admin", ADMIN_SECRET))
    assert_oauth_error(resp, 400, "unsupported_grant_type")
    resp = token_form(api, "scope=admin", basic("admin", ADMIN_SECRET))
    assert_oauth_error(resp, 400, "invalid_request")
    resp = token_form(api, "grant_type=refresh_token", basic("admin", ADMIN_SECRET))
    assert_oauth_error(resp, 400, "invalid_request")


def test_invalid_scope(admin, api):
    cid, secret = make_client(admin, ["orders:read"])
    resp = client_grant(api, cid, secret, scope="orders:write")
    assert_oauth_error(resp, 400, "invalid_scope")
    resp = client_grant(api, cid, secret, scope="made:up")
    assert_oauth_error(resp, 400, "invalid_scope")
    ok = client_grant(api, cid, secret, scope="orders:read")
    assert ok.status_code == 200 and ok.json["scope"] == "orders:read"


# -- refresh tokens -------------------------------------------------------------------------

def test_refresh_rotation_and_reuse_revokes_family(api):
    first = client_token(api)
    second = refresh_with(api, first["refresh_token"])
    assert second.status_code == 200, second.body
    assert second.headers["Cache-Control"] == "no-store"
    second = second.json
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    # the same family's access tokens work until the replay
    assert api.as_bearer(second["access_token"]).get(
        "/api/v1/oauth/token/validate").status_code == 200
    # /oauth/refresh-token is the same grant
    third = token_form(api, f"refresh_token={second['refresh_token']}",
                       basic("admin", ADMIN_SECRET), path="/api/v1/oauth/refresh-token")
    assert third.status_code == 200, third.body
    third = third.json
    # replaying the first (used) refresh token: invalid_grant, and the family dies
    replay = refresh_with(api, first["refresh_token"])
    assert_oauth_error(replay, 400, "invalid_grant")
    assert_oauth_error(refresh_with(api, third["refresh_token"]), 400, "invalid_grant")
    for access in (first["access_token"], second["access_token"], third["access_token"]):
        resp = api.as_bearer(access).get("/api/v1/oauth/token/validate")
        assert_error(resp, 401, "AUTHENTICATION_ERROR")
    # another family of the same client is unaffected
    other = client_token(api)
    assert api.as_bearer(other["access_token"]).get(
        "/api/v1/oauth/token/validate").status_code == 200


def test_refresh_token_of_another_client_is_refused(admin, api):
    cid, secret = make_client(admin, ["orders:read"])
    mine = client_grant(api, cid, secret).json
    resp = refresh_with(api, mine["refresh_token"])  # presented by admin
    assert_oauth_error(resp, 400, "invalid_grant")
    assert refresh_with(api, mine["refresh_token"], cid, secret).status_code == 200


def test_refresh_cannot_widen_scope(admin, api):
    tok = client_token(api, scope="orders:read")
    resp = refresh_with(api, tok["refresh_token"] + "&scope=orders:read%20orders:write")
    assert_oauth_error(resp, 400, "invalid_scope")


def test_refresh_after_client_scopes_narrowed(admin, api):
    cid, secret = make_client(admin, ["orders:read", "orders:write"])
    tok = client_grant(api, cid, secret).json
    assert admin.put(f"/api/v1/oauth/clients/{cid}", {"scopes": ["orders:read"]}
                     ).status_code == 200
    resp = refresh_with(api, tok["refresh_token"], cid, secret)
    assert resp.status_code == 200, resp.body
    assert resp.json["scope"] == "orders:read"


def test_refresh_token_expires(api):
    from chalicelib.core import clock

    tok = client_token(api)
    clock.advance(30 * 86400 + 10)
    assert_oauth_error(refresh_with(api, tok["refresh_token"]), 400, "invalid_grant")


# -- revocation (RFC 7009) -------------------------------------------------------------------

def test_revoke_access_token(api):
    tok = client_token(api)
    bearer = api.as_bearer(tok["access_token"])
    assert bearer.get("/api/v1/oauth/token/validate").status_code == 200
    resp = token_form(api, f"token={tok['access_token']}", basic("admin", ADMIN_SECRET),
                      path="/api/v1/oauth/revoke")
    assert resp.status_code == 200, resp.body
    resp = bearer.get("/api/v1/oauth/token/validate")
    err = assert_error(resp, 401, "AUTHENTICATION_ERROR")
    assert "revoked" in err["message"]
    assert "WWW-Authenticate" in resp.headers
    # the refresh token of that grant still works (only the access token was revoked)
    assert refresh_with(api, tok["refresh_token"]).status_code == 200


def test_revoke_refresh_token_kills_family(api):
    tok = client_token(api)
    resp = token_form(api, f"token={tok['refresh_token']}&token_type_hint=refresh_token",
                      basic("admin", ADMIN_SECRET), path="/api/v1/oauth/revoke")
    assert resp.status_code == 200
    assert_oauth_error(refresh_with(api, tok["refresh_token"]), 400, "invalid_grant")
    assert_error(api.as_bearer(tok["access_token"]).get("/api/v1/oauth/token/validate"),
                 401, "AUTHENTICATION_ERROR")


def test_revoke_unknown_token_is_200_and_changes_nothing(api):
    client_token(api)
    before = snapshot()
    for junk in ("not-a-token", "grt_unknown", "a.b.c"):
        resp = token_form(api, f"token={junk}", basic("admin", ADMIN_SECRET),
                          path="/api/v1/oauth/revoke")
        assert resp.status_code == 200, resp.body
    assert snapshot() == before


def test_revoke_with_bad_client_is_invalid_client(api):
    tok = client_token(api)
    resp = token_form(api, f"token={tok['access_token']}", basic("admin", "nope"),
                      path="/api/v1/oauth/revoke")
    assert_oauth_error(resp, 401, "invalid_client")
    assert api.as_bearer(tok["access_token"]).get(
        "/api/v1/oauth/token/validate").status_code == 200


def test_other_client_cannot_revoke_my_token(admin, api):
    cid, secret = make_client(admin, ["orders:read"])
    tok = client_token(api)
    resp = token_form(api, f"token={tok['access_token']}", basic(cid, secret),
                      path="/api/v1/oauth/revoke")
    assert resp.status_code == 200
    assert api.as_bearer(tok["access_token"]).get(
        "/api/v1/oauth/token/validate").status_code == 200


# -- introspection (RFC 7662) ------------------------------------------------------------------

def _introspect(api, token):
    resp = token_form(api, f"token={token}", basic("admin", ADMIN_SECRET),
                      path="/api/v1/oauth/introspect")
    assert resp.status_code == 200, resp.body
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.json


def test_introspection_active_and_inactive(api):
    from chalicelib.core import clock

    tok = client_token(api)
    active = _introspect(api, tok["access_token"])
    assert active["active"] is True
    assert active["client_id"] == "admin" and active["sub"] == "admin"
    assert active["scope"] == "admin" and active["token_type"] == "Bearer"
    assert {"exp", "iat", "iss", "aud", "jti"} <= set(active)
    refresh = _introspect(api, tok["refresh_token"])
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    assert _introspect(api, "garbage") == {"active": False}
    assert _introspect(api, "grt_garbage") == {"active": False}
    # revoked
    other = client_token(api)
    token_form(api, f"token={other['access_token']}", basic("admin", ADMIN_SECRET),
               path="/api/v1/oauth/revoke")
    assert _introspect(api, other["access_token"]) == {"active": False}
    # expired (the caller authenticates with Basic, so the clock may move)
    clock.advance(3600 + 10)
    assert _introspect(api, tok["access_token"]) == {"active": False}


def test_introspection_needs_caller_authentication(api):
    tok = client_token(api)
    resp = token_form(api, f"token={tok['access_token']}", path="/api/v1/oauth/introspect")
    assert_oauth_error(resp, 401, "invalid_client")
    resp = token_form(api, f"token={tok['access_token']}", basic("admin", "bad"),
                      path="/api/v1/oauth/introspect")
    assert_oauth_error(resp, 401, "invalid_client")
    # a bearer token is accepted as caller authentication
    resp = api.post("/api/v1/oauth/introspect", raw=f"token={tok['access_token']}",
                    headers={"Content-Type": FORM,
                             "Authorization": f"Bearer {tok['access_token']}"})
    assert resp.status_code == 200 and resp.json["active"] is True


def test_validate_and_userinfo(api, admin):
    resp = admin.get("/api/v1/oauth/token/validate")
    assert resp.status_code == 200
    data = resp.json["data"]
    assert data["active"] is True and data["client_id"] == "admin"
    assert data["principal_type"] == "client"
    resp = admin.get("/api/v1/oauth/userinfo")
    assert resp.status_code == 200
    assert resp.json["sub"] == "admin" and resp.json["principal_type"] == "client"
    assert resp.json["client_id"] == "admin"
    assert_error(api.get("/api/v1/oauth/userinfo"), 401, "AUTHENTICATION_ERROR")


def test_userinfo_of_user(api, admin):
    from tests.conftest import make_user

    alice, data = make_user(admin, "alice", ["analyst"])
    info = alice.get("/api/v1/oauth/userinfo").json
    assert info["sub"] == data["id"] and info["principal_type"] == "user"
    assert info["preferred_username"] == "alice" and info["roles"] == ["analyst"]


# -- metadata, JWKS, key rotation --------------------------------------------------------------

def test_authorization_server_metadata(api):
    resp = api.get("/.well-known/oauth-authorization-server")
    assert resp.status_code == 200
    meta = resp.json
    assert meta["issuer"] == ISSUER
    assert meta["token_endpoint"] == f"{ISSUER}/api/v1/oauth/token"
    assert meta["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert meta["revocation_endpoint"].endswith("/oauth/revoke")
    assert meta["introspection_endpoint"].endswith("/oauth/introspect")
    assert set(meta["grant_types_supported"]) == {"client_credentials", "refresh_token"}
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]
    assert "client_secret_post" in meta["token_endpoint_auth_methods_supported"]
    assert "orders:read" in meta["scopes_supported"]
    assert "response_types_supported" in meta


def test_jwks_publishes_only_public_parts(api):
    keys = api.get("/.well-known/jwks.json").json["keys"]
    assert len(keys) == 1
    assert set(keys[0]) == {"kty", "use", "alg", "kid", "n", "e"}
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"


def test_key_rotation(api, admin):
    old = client_token(api)
    old_kid = jwt_parts(old["access_token"])[0]["kid"]
    resp = admin.post("/api/v1/oauth/keys/rotate")
    assert resp.status_code == 200, resp.body
    new_kid = resp.json["data"]["kid"]
    assert new_kid != old_kid
    kids = {k["kid"] for k in api.get("/.well-known/jwks.json").json["keys"]}
    assert kids == {old_kid, new_kid}
    # old tokens still verify, with the JWKS and at the API
    assert _verify_with_jwks(api, old["access_token"])["sub"] == "admin"
    assert api.as_bearer(old["access_token"]).get(
        "/api/v1/oauth/token/validate").status_code == 200
    new = client_token(api)
    assert jwt_parts(new["access_token"])[0]["kid"] == new_kid
    assert _verify_with_jwks(api, new["access_token"])["sub"] == "admin"
    # and only an admin may rotate
    cid, secret = make_client(admin, ["orders:read"])
    other = api.as_bearer(client_grant(api, cid, secret).json["access_token"])
    assert_error(other.post("/api/v1/oauth/keys/rotate"), 403, "AUTHORIZATION_ERROR")


# -- clients -------------------------------------------------------------------------------------

def test_client_crud_secret_shown_once_and_hashed(admin, api):
    from chalicelib.auth import credentials

    resp = admin.post("/api/v1/oauth/clients", {"name": "crm", "scopes": ["orders:read"],
                                                "tier": "pro", "rateLimit": 500})
    assert resp.status_code == 201, resp.body
    data = resp.json["data"]
    cid, secret = data["client_id"], data["client_secret"]
    assert resp.headers["Location"].endswith(f"/oauth/clients/{cid}")
    assert data["scopes"] == ["orders:read"] and data["hourLimit"] == 500
    item = raw_item(f"CLIENT#{cid}", "CLIENT")
    assert item["secretHash"] == credentials.hash_secret(secret)
    assert secret not in json.dumps(item)
    got = admin.get(f"/api/v1/oauth/clients/{cid}")
    assert got.status_code == 200 and "client_secret" not in got.json["data"]
    assert "secretHash" not in got.json["data"]
    listing = admin.get("/api/v1/oauth/clients").json
    assert cid in [c["client_id"] for c in listing["data"]]
    assert "client_secret" not in json.dumps(listing) and "secretHash" not in json.dumps(listing)
    assert set(listing["pagination"]) == {"perPage", "nextCursor", "hasMore"}
    upd = admin.put(f"/api/v1/oauth/clients/{cid}", {"name": "crm2", "scopes": ["orders:read",
                                                                                 "orders:write"]})
    assert upd.status_code == 200, upd.body
    assert upd.json["data"]["name"] == "crm2"
    assert raw_item(f"CLIENT#{cid}", "CLIENT")["scopes"] == ["orders:read", "orders:write"]
    # its tokens work until it is deleted, then stop at once
    tok = client_grant(api, cid, secret).json
    assert api.as_bearer(tok["access_token"]).get("/api/v1/oauth/userinfo").status_code == 200
    assert admin.delete(f"/api/v1/oauth/clients/{cid}").status_code == 204
    assert raw_item(f"CLIENT#{cid}", "CLIENT") is None
    assert_error(api.as_bearer(tok["access_token"]).get("/api/v1/oauth/userinfo"),
                 401, "AUTHENTICATION_ERROR")
    assert_oauth_error(client_grant(api, cid, secret), 401, "invalid_client")
    assert_oauth_error(refresh_with(api, tok["refresh_token"], cid, secret), 401,
                       "invalid_client")
    assert_error(admin.get(f"/api/v1/oauth/clients/{cid}"), 404, "NOT_FOUND")


def test_client_create_validation(admin):
    before = snapshot()
    resp = admin.post("/api/v1/oauth/clients", {"name": "x", "scopes": ["no:such"]})
    err = assert_error(resp, 422, "VALIDATION_ERROR")
    assert err["details"][0]["field"].startswith("scopes")
    resp = admin.post("/api/v1/oauth/clients", {"name": "x", "scopes": ["orders:read"],
                                                "bogus": 1})
    assert_error(resp, 422, "VALIDATION_ERROR")
    assert snapshot() == before


def test_deactivated_client_tokens_refused(admin, api):
    cid, secret = make_client(admin, ["orders:read"])
    tok = client_grant(api, cid, secret).json
    assert admin.put(f"/api/v1/oauth/clients/{cid}", {"active": False}).status_code == 200
    assert_error(api.as_bearer(tok["access_token"]).get("/api/v1/oauth/userinfo"),
                 401, "AUTHENTICATION_ERROR")
    assert_oauth_error(client_grant(api, cid, secret), 401, "invalid_client")


def test_scope_escalation_refused(admin, api):
    from tests.conftest import make_user

    integrator, _ = make_user(admin, "ivy", ["integrator"])
    before = snapshot()
    resp = integrator.post("/api/v1/oauth/clients", {"name": "x", "scopes": ["admin"]})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    resp = integrator.post("/api/v1/oauth/clients", {"name": "x",
                                                     "scopes": ["users:manage"]})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    resp = integrator.post("/api/v1/oauth/clients", {"name": "x", "scopes": ["orders:read"],
                                                     "rateLimit": 1_000_000})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert snapshot() == before
    cid, secret = make_client(integrator, ["orders:read"])
    resp = integrator.put(f"/api/v1/oauth/clients/{cid}", {"scopes": ["admin"]})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
    assert raw_item(f"CLIENT#{cid}", "CLIENT")["scopes"] == ["orders:read"]
    # the client itself cannot mint broader tokens either
    assert_oauth_error(client_grant(api, cid, secret, scope="admin"), 400, "invalid_scope")


def test_client_bola(admin, api):
    from tests.conftest import make_user

    ivy, _ = make_user(admin, "ivy", ["integrator"])
    max_, _ = make_user(admin, "max", ["integrator"])
    cid, _secret = make_client(ivy, ["orders:read"])
    assert_error(max_.get(f"/api/v1/oauth/clients/{cid}"), 404, "NOT_FOUND")
    before = snapshot()
    assert_error(max_.put(f"/api/v1/oauth/clients/{cid}", {"name": "mine"}), 404, "NOT_FOUND")
    assert_error(max_.delete(f"/api/v1/oauth/clients/{cid}"), 404, "NOT_FOUND")
    assert snapshot() == before
    assert cid not in [c["client_id"] for c in max_.get("/api/v1/oauth/clients").json["data"]]
    assert cid in [c["client_id"] for c in ivy.get("/api/v1/oauth/clients").json["data"]]
