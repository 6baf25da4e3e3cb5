from tests.conftest import client_token


def test_health(api):
    resp = api.get("/api/health")
    assert resp.status_code == 200
    assert resp.json["status"] == "ok"
    assert resp.headers["X-Request-Id"]


def test_token_and_validate(api):
    tok = client_token(api)
    assert tok["token_type"] == "Bearer"
    resp = api.as_bearer(tok["access_token"]).get("/api/v1/oauth/token/validate")
    assert resp.status_code == 200, resp.body
    assert resp.json["data"]["active"] is True
    assert resp.headers["X-RateLimit-Limit"] == "10000"
