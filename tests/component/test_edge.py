"""The edge: forged tokens, request ids, validation, sizes, media types, methods, internal
errors, CORS, version headers and Idempotency-Key."""

from __future__ import annotations

import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.component.helpers import (
    assert_error,
    b64u,
    jwt_parts,
    make_client,
    set_env,
    snapshot,
)
from tests.conftest import client_token, make_user

ISSUER = "http://testserver"
PROBE = "/api/v1/oauth/token/validate"


# -- forged and broken tokens ---------------------------------------------------------------

def _segments(header, payload):
    return (b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(payload).encode()))


def _claims(**over):
    from chalicelib.core import clock

    now = clock.now_int()
    claims = {"iss": ISSUER, "sub": "admin", "aud": "gatehouse-api", "iat": now, "nbf": now,
              "exp": now + 600, "jti": "at_forged", "client_id": "admin", "scope": "admin",
              "gh_kind": "client"}
    claims.update(over)
    return claims


def _real_key():
    from chalicelib.auth import keyring, tokens

    ring = keyring.keyring()
    active = next(k for k in ring["signing"] if k["kid"] == ring["active"])
    return active["kid"], tokens._private_key(active["pem"])


def _assert_refused(api, token, code="AUTHENTICATION_ERROR"):
    resp = api.as_bearer(token).get(PROBE)
    err = assert_error(resp, 401, code)
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
    return err


def test_missing_and_malformed_authorization(api):
    resp = api.get(PROBE)
    assert_error(resp, 401, "AUTHENTICATION_ERROR")
    assert resp.headers["WWW-Authenticate"].startswith("Bearer realm=")
    resp = api.get(PROBE, headers={"Authorization": "Basic YWRtaW46eA=="})
    assert_error(resp, 401, "AUTHENTICATION_ERROR")
    assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]
    for junk in ("not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", "...."):
        _assert_refused(api, junk)


def test_expired_token(api):
    from chalicelib.core import clock

    tok = client_token(api)["access_token"]
    clock.advance(3600 + 10)
    err = _assert_refused(api, tok, "TOKEN_EXPIRED")
    assert "expired" in err["message"]


def test_tampered_payload(api):
    tok = client_token(api, scope="orders:read")["access_token"]
    head, body, sig = tok.split(".")
    _, claims = jwt_parts(tok)
    claims["scope"] = "admin"
    forged = f"{head}.{b64u(json.dumps(claims).encode())}.{sig}"
    _assert_refused(api, forged)


def test_alg_none(api):
    kid, _ = _real_key()
    for alg in ("none", "None", "NONE"):
        token = _segments({"alg": alg, "typ": "at+jwt", "kid": kid}, _claims()) + "."
        _assert_refused(api, token)


def test_hs256_signed_with_the_public_key(api):
    jwk = api.get("/.well-known/jwks.json").json["keys"][0]
    public = RSAAlgorithm.from_jwk(json.dumps(jwk))
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = _segments({"alg": "HS256", "typ": "at+jwt", "kid": jwk["kid"]}, _claims())
    sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    _assert_refused(api, signing_input + "." + b64u(sig))


def test_unknown_kid_signed_by_another_key(api):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(), other, algorithm="RS256",
                       headers={"kid": "attacker", "typ": "at+jwt"})
    _assert_refused(api, token)
    # the real kid with a foreign key is refused as well
    kid, _ = _real_key()
    token = jwt.encode(_claims(), other, algorithm="RS256",
                       headers={"kid": kid, "typ": "at+jwt"})
    _assert_refused(api, token)


@pytest.mark.parametrize("over,headers", [
    ({"iss": "http://evil.example"}, {}),
    ({"aud": "another-api"}, {}),
    ({}, {"typ": "JWT"}),
    ({}, {"typ": 1}),
    ({"exp": None}, {}),
    ({"nbf": 4102444800}, {}),
])
def test_wrong_issuer_audience_type_or_claims(api, over, headers):
    kid, key = _real_key()
    claims = {k: v for k, v in _claims(**over).items() if v is not None}
    token = jwt.encode(claims, key, algorithm="RS256",
                       headers={"kid": kid, "typ": "at+jwt", **headers})
    _assert_refused(api, token)


def test_token_signed_properly_with_forged_claims_still_needs_a_live_subject(api):
    kid, key = _real_key()
    token = jwt.encode(_claims(sub="cli_ghost", client_id="cli_ghost"), key,
                       algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})
    _assert_refused(api, token)
    # control: the same recipe for a live subject is accepted (the forgeries above fail
    # for the reason they test, not for the recipe)
    good = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})
    assert api.as_bearer(good).get(PROBE).status_code == 200


# -- request ids -------------------------------------------------------------------------------

def test_request_id_echoed_when_sane(api):
    resp = api.get("/api/health", headers={"X-Request-Id": "abc-123_x.y:z"})
    assert resp.headers["X-Request-Id"] == "abc-123_x.y:z"
    resp = api.get(PROBE, headers={"X-Request-Id": "caller-id-1"})
    assert resp.headers["X-Request-Id"] == "caller-id-1"
    assert resp.json["error"]["requestId"] == "caller-id-1"


@pytest.mark.parametrize("given", ["evil\r\nSet-Cookie: a=b", "abc\n", "x" * 129,
                                   "<script>", "a b", ""])
def test_request_id_generated_for_malicious_ones(api, given):
    resp = api.get("/api/health", headers={"X-Request-Id": given})
    rid = resp.headers["X-Request-Id"]
    assert rid != given and rid.startswith("req_")
    assert "\n" not in rid and "\r" not in rid and len(rid) <= 128


def test_request_id_generated_and_unique(api):
    a = api.get("/api/health").headers["X-Request-Id"]
    b = api.get("/api/health").headers["X-Request-Id"]
    assert a.startswith("req_") and b.startswith("req_") and a != b


# -- bodies -------------------------------------------------------------------------------------

def test_malformed_json_is_400(admin):
    before = snapshot()
    resp = admin.post("/api/v1/roles", raw='{"name": "x", ',
                      headers={"Content-Type": "application/json"})
    err = assert_error(resp, 400, "VALIDATION_ERROR")
    assert err["details"][0]["field"] == "body"
    assert snapshot() == before


def test_wrong_types_and_unknown_fields_are_422(admin):
    before = snapshot()
    resp = admin.post("/api/v1/roles", {"name": 5, "scopes": "orders:read", "extra": True})
    err = assert_error(resp, 422, "VALIDATION_ERROR")
    fields = {d["field"]: d for d in err["details"]}
    assert set(fields) == {"name", "scopes", "extra"}
    assert fields["extra"]["message"] == "Unknown field."
    resp = admin.post("/api/v1/roles", raw="[1, 2]", headers={"Content-Type": "application/json"})
    assert_error(resp, 422, "VALIDATION_ERROR")
    assert snapshot() == before


def test_json_types_are_strict(admin):
    """A string is not a number and not a boolean, however it looks."""
    before = snapshot()
    for bad in ({"rateLimit": "100"}, {"active": "true"}, {"rateLimit": 10.5},
                {"scopes": "orders:read"}):
        resp = admin.post("/api/v1/oauth/clients", {"name": "strict", "scopes": ["orders:read"],
                                                    **bad})
        err = assert_error(resp, 422, "VALIDATION_ERROR")
        assert err["details"][0]["field"] == next(iter(bad)), err
    assert snapshot() == before
    ok = admin.post("/api/v1/oauth/clients", {"name": "strict", "scopes": ["orders:read"],
                                              "rateLimit": 100})
    assert ok.status_code == 201, ok.body


def test_body_too_large_is_413(admin, monkeypatch):
    big = json.dumps({"name": "big", "scopes": ["orders:read"], "description": "x" * 1_048_576})
    before = snapshot()
    resp = admin.post("/api/v1/roles", raw=big, headers={"Content-Type": "application/json"})
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE")
    set_env(monkeypatch, GATEHOUSE_MAX_BODY_BYTES="100")
    resp = admin.post("/api/v1/roles", {"name": "small", "scopes": ["orders:read"],
                                        "description": "y" * 100})
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE")
    assert snapshot() == before
    resp = admin.post("/api/v1/roles", {"name": "small", "scopes": ["orders:read"]})
    assert resp.status_code == 201


def test_unsupported_media_type_is_415(admin):
    before = snapshot()
    resp = admin.post("/api/v1/roles", raw="name,scopes\nx,orders:read\n",
                      headers={"Content-Type": "text/csv"})
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    resp = admin.post("/api/v1/roles", raw="name: x", headers={"Content-Type": "application/yaml"})
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert snapshot() == before


def test_wrong_method_is_405_envelope(admin):
    resp = admin.call("PATCH", "/api/v1/roles", body={})
    err = assert_error(resp, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in resp.headers.get("Allow", "") and "GET" in resp.headers["Allow"]
    assert "Unsupported method" not in err["message"]


def test_internal_error_never_leaks(admin, monkeypatch):
    from chalicelib.auth.users import roles

    def boom(*_a, **_k):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(roles, "list_roles", boom)
    resp = admin.get("/api/v1/roles")
    err = assert_error(resp, 500, "INTERNAL_ERROR")
    assert "passwd" not in resp.body.decode() and "RuntimeError" not in resp.body.decode()
    assert err["message"] == "An internal error occurred."


def test_internal_error_in_debug_mode_still_no_trace(admin, monkeypatch):
    from app import app
    from chalicelib.auth.users import roles

    monkeypatch.setattr(app, "debug", True)
    monkeypatch.setattr(roles, "list_roles",
                        lambda *_a, **_k: (_ for _ in ()).throw(ValueError("internals")))
    resp = admin.get("/api/v1/roles")
    assert_error(resp, 500, "INTERNAL_ERROR")
    assert "internals" not in resp.body.decode()


def test_oauth_endpoint_internal_error_is_rfc6749(api, monkeypatch):
    from chalicelib.auth.oauth import service

    monkeypatch.setattr(service, "client_credentials_grant",
                        lambda *_a, **_k: (_ for _ in ()).throw(KeyError("internals")))
    tok = api.post("/api/v1/oauth/token", {"grant_type": "client_credentials",
                                           "client_id": "admin",
                                           "client_secret": "admin-secret-for-tests"})
    assert tok.status_code == 500
    assert tok.json == {"error": "server_error",
                        "error_description": "An internal error occurred."}


# -- CORS -----------------------------------------------------------------------------------------

def test_cors_allowed_origin(api, monkeypatch):
    set_env(monkeypatch, GATEHOUSE_CORS_ORIGINS="https://app.example, https://b.example")
    pre = api.call("OPTIONS", "/api/v1/roles", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    assert pre.status_code in (200, 204)
    assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert {"GET", "POST"} <= {m.strip() for m in
                               pre.headers["Access-Control-Allow-Methods"].split(",")}
    allowed = {h.strip().lower() for h in pre.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-api-key"} <= allowed
    assert "Origin" in pre.headers.get("Vary", "")
    resp = api.get("/api/v1/oauth/userinfo", headers={"Origin": "https://app.example"})
    assert resp.status_code == 401  # CORS headers on errors too
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    exposed = {h.strip() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
            "RateLimit", "RateLimit-Policy", "Retry-After"} <= exposed


def test_cors_unlisted_origin_and_default(api, monkeypatch):
    resp = api.get("/api/health", headers={"Origin": "https://app.example"})
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")]
    set_env(monkeypatch, GATEHOUSE_CORS_ORIGINS="https://app.example")
    for origin in ("https://evil.example", "https://app.example.evil.com", "null"):
        pre = api.call("OPTIONS", "/api/v1/roles", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert not [h for h in pre.headers if h.lower().startswith("access-control-")]
        resp = api.get("/api/health", headers={"Origin": origin})
        assert not [h for h in resp.headers if h.lower().startswith("access-control-")]


# -- versions ---------------------------------------------------------------------------------

def test_v1_deprecation_headers_v2_none(admin):
    v1 = admin.get("/api/v1/roles")
    assert v1.status_code == 200
    assert v1.headers["Deprecation"].startswith("@")
    assert v1.headers["Sunset"].endswith("GMT")
    assert '</api/v2/roles>; rel="successor-version"' in v1.headers["Link"]
    v2 = admin.get("/api/v2/roles")
    assert v2.status_code == 200
    assert v2.json == v1.json
    assert not {"Deprecation", "Sunset", "Link"} & set(v2.headers)
    # errors on v1 carry them too
    assert "Deprecation" in admin.get("/api/v1/roles/nope").headers


def test_v1_sunset_at_least_six_months_ahead(admin):
    from email.utils import parsedate_to_datetime

    from chalicelib.core import clock

    sunset = parsedate_to_datetime(admin.get("/api/v1/roles").headers["Sunset"]).timestamp()
    assert sunset - clock.now() >= 180 * 86400


# -- Idempotency-Key ------------------------------------------------------------------------

ROLE = {"name": "support", "scopes": ["tickets:read"]}


def _roles(admin):
    return [r["name"] for r in admin.get("/api/v1/roles").json["data"] if not r["builtIn"]]


def test_idempotent_replay(admin):
    first = admin.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = admin.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201, again.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    assert _roles(admin) == ["support"]
    # without a key the same body is a new request (here: a conflict)
    assert admin.post("/api/v1/roles", ROLE).status_code == 409


def test_idempotency_key_with_different_body_is_422(admin):
    admin.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "k-2"})
    before = snapshot()
    resp = admin.post("/api/v1/roles", {**ROLE, "name": "other"},
                      headers={"Idempotency-Key": "k-2"})
    assert_error(resp, 422, "VALIDATION_ERROR")
    assert snapshot() == before
    assert _roles(admin) == ["support"]


def test_idempotency_keys_are_scoped_per_principal(admin, api):
    cid, secret = make_client(admin, ["users:manage", "users:read"])
    from tests.component.helpers import client_grant

    other = api.as_bearer(client_grant(api, cid, secret).json["access_token"])
    a = admin.post("/api/v1/users", {"username": "u1", "email": "u1@ex.com",
                                     "password": "password-1", "roles": ["viewer"]},
                   headers={"Idempotency-Key": "shared"})
    assert a.status_code == 201
    body = {"username": "u2", "email": "u2@ex.com", "password": "password-2",
            "roles": ["viewer"]}
    b = admin.post("/api/v1/users", body, headers={"Idempotency-Key": "shared"})
    assert b.status_code == 422  # same principal, other body
    # another principal with the same key: its own request. It lacks the reads of the
    # viewer role, so use a role within its scopes.
    admin.post("/api/v1/roles", {"name": "reader", "scopes": ["users:read"]})
    c = other.post("/api/v1/users", {**body, "roles": ["reader"]},
                   headers={"Idempotency-Key": "shared"})
    assert c.status_code == 201, c.body
    assert "Idempotent-Replayed" not in c.headers
    assert c.json["data"]["username"] == "u2"


def test_idempotency_in_progress_is_409(admin):
    from chalicelib.core import clock
    from chalicelib.store import table as store

    raw = json.dumps(ROLE)
    digest = hashlib.sha256(b"POST /api/v1/roles\napplication/json\n")
    digest.update(raw.encode())
    pk = "IDEM#client:admin#" + hashlib.sha256(b"k-busy").hexdigest()
    now = clock.now_int()
    store.put({"PK": pk, "SK": "IDEM", "state": "running", "bodyHash": digest.hexdigest(),
               "lockUntil": now + 60, "ttl": now + 86400})
    resp = admin.post("/api/v1/roles", raw=raw, headers={"Idempotency-Key": "k-busy",
                                                         "Content-Type": "application/json"})
    assert_error(resp, 409, "CONFLICT")
    assert resp.headers["Retry-After"]
    assert _roles(admin) == []
    # once the lock has lapsed (a crashed first attempt), the key may be used again
    clock.advance(61)
    resp = admin.post("/api/v1/roles", raw=raw, headers={"Idempotency-Key": "k-busy",
                                                         "Content-Type": "application/json"})
    assert resp.status_code == 201
    assert _roles(admin) == ["support"]


def test_idempotency_server_error_releases_the_key(admin, monkeypatch):
    from chalicelib.auth.users import roles

    real = roles.create_role
    monkeypatch.setattr(roles, "create_role",
                        lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("flaky")))
    resp = admin.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "k-3"})
    assert_error(resp, 500, "INTERNAL_ERROR")
    monkeypatch.setattr(roles, "create_role", real)
    resp = admin.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "k-3"})
    assert resp.status_code == 201 and "Idempotent-Replayed" not in resp.headers


def test_idempotency_key_must_be_sane(admin):
    resp = admin.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "x" * 300})
    assert_error(resp, 400, "VALIDATION_ERROR")
    assert _roles(admin) == []


def test_viewer_idempotency_does_not_bypass_scopes(admin):
    viewer, _ = make_user(admin, "vic", ["viewer"])
    admin.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "k-4"})
    resp = viewer.post("/api/v1/roles", ROLE, headers={"Idempotency-Key": "k-4"})
    assert_error(resp, 403, "AUTHORIZATION_ERROR")
