"""The local stack over real HTTP: gateway answers, OAuth with a standard client
library, discovery documents, and the rate limiter's exactness under concurrency."""

from __future__ import annotations

import json
import socket
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest
from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():  # authlib nags about httpx2; plain httpx works the same
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

pytestmark = pytest.mark.e2e

ENVELOPE_KEYS = {"code", "message", "details", "requestId", "timestamp", "documentation"}


def assert_envelope(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error = resp.json()["error"]
    assert ENVELOPE_KEYS <= set(error), error
    assert error["requestId"] == resp.headers["x-request-id"]
    assert "Traceback" not in resp.text
    if code is not None:
        assert error["code"] == code
    return dict(error)


def oauth_client(stack: Any, method: str, client_id: str | None = None,
                 secret: str | None = None) -> OAuth2Client:
    return OAuth2Client(client_id or stack.admin_client_id, secret or stack.admin_secret,
                        token_endpoint_auth_method=method, base_url=stack.base_url,
                        timeout=10.0)


def test_health(http):
    resp = http.get("/api/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    assert resp.headers["x-request-id"]


@pytest.mark.parametrize("method,path,headers", [
    ("GET", "/api/v1/no-such-thing", {}),
    ("POST", "/nowhere/at/all", {"Authorization": "Bearer x"}),  # API Gateway's SigV4 case
    ("GET", "/api/v1/oauth/token/validate/extra", {}),
])
def test_unknown_route_answers_the_gateway_404(http, method, path, headers):
    resp = http.request(method, path, headers=headers)
    error = assert_envelope(resp, 404, "NOT_FOUND")
    assert error["message"]


def test_unknown_route_keeps_a_sane_request_id(http):
    resp = http.get("/api/v1/no-such-thing", headers={"X-Request-Id": "e2e-trace-42"})
    assert_envelope(resp, 404, "NOT_FOUND")
    assert resp.headers["x-request-id"] == "e2e-trace-42"


def test_wrong_method_answers_405_envelope(http):
    assert_envelope(http.delete("/api/health"), 405)
    assert_envelope(http.put("/api/v1/oauth/token", content=b"{}"), 405)


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_oauth_with_a_standard_client_library(local_stack, auth_method):
    with oauth_client(local_stack, auth_method) as client:
        token = client.fetch_token("/api/v1/oauth/token", grant_type="client_credentials")
        assert token["token_type"].lower() == "bearer"
        assert token["expires_in"] == 3600 and token["refresh_token"]
        assert "admin" in token["scope"].split()

        valid = client.get("/api/v1/oauth/token/validate")
        assert valid.status_code == 200, valid.text
        data = valid.json()["data"]
        assert data["active"] is True and data["client_id"] == local_stack.admin_client_id
        assert data["iss"] == local_stack.base_url

        info = client.get("/api/v1/oauth/userinfo")
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == local_stack.admin_client_id

    # The access token verifies against the published JWKS (RFC 9068 shape).
    keys = httpx.get(f"{local_stack.base_url}/.well-known/jwks.json").json()
    header = jwt.get_unverified_header(token["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    jwk = next(k for k in keys["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token["access_token"], jwt.PyJWK(jwk).key, algorithms=["RS256"],
                        issuer=local_stack.base_url, options={"verify_aud": False})
    assert claims["client_id"] == local_stack.admin_client_id


def test_wrong_client_secret_is_an_oauth_error(local_stack):
    with oauth_client(local_stack, "client_secret_basic", secret="not-it") as client:
        resp = client.post("/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(local_stack.admin_client_id, "not-it"))
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


def test_discovery_documents(http, local_stack):
    meta = http.get("/.well-known/oauth-authorization-server")
    assert meta.status_code == 200
    doc = meta.json()
    base = local_stack.base_url
    assert doc["issuer"] == base
    assert doc["token_endpoint"] == f"{base}/api/v1/oauth/token"
    assert doc["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert "client_credentials" in doc["grant_types_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        doc["token_endpoint_auth_methods_supported"])

    jwks = http.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    keys = jwks.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "RSA" and key["kid"] and key.get("use", "sig") == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)  # public parts only


def test_rate_limit_is_exact_under_concurrency(local_stack):
    limit, total, threads = 25, 60, 12
    with oauth_client(local_stack, "client_secret_basic") as admin:
        admin.fetch_token("/api/v1/oauth/token", grant_type="client_credentials")
        made = admin.post("/api/v1/oauth/clients",
                          json={"name": "rl", "scopes": ["orders:read"], "rateLimit": limit})
        assert made.status_code == 201, made.text
        created = made.json()["data"]

    with oauth_client(local_stack, "client_secret_post", created["client_id"],
                      created["client_secret"]) as rl:
        token = rl.fetch_token("/api/v1/oauth/token", grant_type="client_credentials")
    # The token request was charged to the client too (authenticate_client): one spent.
    bearer = {"Authorization": f"Bearer {token['access_token']}"}

    def call(_i: int) -> httpx.Response:
        with httpx.Client(base_url=local_stack.base_url, timeout=20.0) as c:
            return c.get("/api/v1/oauth/token/validate", headers=bearer)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        responses = list(pool.map(call, range(total)))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == limit - 1, statuses
    assert statuses.count(429) == total - (limit - 1), statuses
    for resp in responses:
        assert resp.headers["x-ratelimit-limit"] == str(limit)
        if resp.status_code == 429:
            error = assert_envelope(resp, 429, "RATE_LIMIT_EXCEEDED")
            assert int(resp.headers["retry-after"]) > 0
            assert error["retryAfter"] == int(resp.headers["retry-after"])
            assert resp.headers["x-ratelimit-remaining"] == "0"


def test_chunked_body_reaches_the_app(local_stack):
    def form():  # a generator body: httpx sends it chunked
        yield b"grant_type=client_credentials"

    with httpx.Client(base_url=local_stack.base_url, timeout=10.0) as client:
        resp = client.post("/api/v1/oauth/token", content=form(),
                           auth=(local_stack.admin_client_id, local_stack.admin_secret),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["token_type"] == "Bearer"
        assert client.get("/api/health").status_code == 200  # same connection, still sane


def test_a_body_over_api_gateways_limit_answers_413_envelope(local_stack):
    host, port = local_stack.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /api/v1/oauth/token HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 20000000\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"x-request-id:" in head.lower()
    assert json.loads(body)["error"]["code"] == "PAYLOAD_TOO_LARGE"
