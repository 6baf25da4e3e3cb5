"""Shared helpers for the front-door tests: contract assertions, direct DynamoDB reads,
forged-token builders."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.conftest import ADMIN_SECRET, Api, basic

FORM = "application/x-www-form-urlencoded"
ENVELOPE_KEYS = {"code", "message", "details", "requestId", "timestamp", "documentation"}


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """The contract's error envelope, exactly, with the response's request id."""
    assert resp.status_code == status, resp.body
    assert set(resp.json) == {"error"}, resp.json
    err = resp.json["error"]
    assert ENVELOPE_KEYS <= set(err), err
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["details"], list)
    assert err["requestId"] == resp.headers["X-Request-Id"]
    assert err["timestamp"].endswith("Z")
    assert err["documentation"].startswith("/api/docs")
    body = resp.body.decode()
    assert "Traceback" not in body and 'File "' not in body
    return dict(err)


def assert_oauth_error(resp: Any, status: int, error: str) -> dict[str, Any]:
    """RFC 6749 §5.2 form."""
    assert resp.status_code == status, resp.body
    assert set(resp.json) == {"error", "error_description"}, resp.json
    assert resp.json["error"] == error, resp.json
    assert resp.headers["Cache-Control"] == "no-store"
    return dict(resp.json)


def token_form(api: Api, form: str, auth: str | None = None,
               path: str = "/api/v1/oauth/token") -> Any:
    headers = {"Content-Type": FORM}
    if auth:
        headers["Authorization"] = auth
    return api.post(path, raw=form, headers=headers)


def client_grant(api: Api, client_id: str, secret: str, scope: str | None = None) -> Any:
    form = "grant_type=client_credentials" + (f"&scope={scope}" if scope else "")
    return token_form(api, form, basic(client_id, secret))


def refresh_with(api: Api, refresh: str, client_id: str = "admin",
                 secret: str = ADMIN_SECRET) -> Any:
    return token_form(api, f"grant_type=refresh_token&refresh_token={refresh}",
                      basic(client_id, secret))


def make_client(admin: Api, scopes: list[str], **extra: Any) -> tuple[str, str]:
    resp = admin.post("/api/v1/oauth/clients", {"name": "test client", "scopes": scopes, **extra})
    assert resp.status_code == 201, resp.body
    data = resp.json["data"]
    return data["client_id"], data["client_secret"]


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, payload, _sig = token.split(".")
    return json.loads(unb64u(head)), json.loads(unb64u(payload))


def raw_item(pk: str, sk: str) -> dict[str, Any] | None:
    """The item as stored (TTL not applied)."""
    from chalicelib.store import table as store

    found = store.table().get_item(Key={"PK": pk, "SK": sk}, ConsistentRead=True).get("Item")
    return store.plain(found) if found else None


# Attributes and items that change on every request (counters, logs), not "data".
_VOLATILE_PREFIXES = ("ALOG#", "LIMIT#IP#", "IDEM#")
_VOLATILE_ATTRS = ("rl_h", "rl_m", "u_", "lastUsedAt", "lastLoginAt")


def snapshot() -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the table except request bookkeeping: compare two to prove that a
    refused request changed nothing."""
    from chalicelib.store import table as store

    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        resp = store.table().scan(**kwargs)
        items += resp.get("Items", [])
        if not resp.get("LastEvaluatedKey"):
            break
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
    out = {}
    for raw in items:
        item = store.plain(raw)
        if str(item["PK"]).startswith(_VOLATILE_PREFIXES):
            continue
        out[(item["PK"], item["SK"])] = {k: v for k, v in item.items()
                                         if not k.startswith(_VOLATILE_ATTRS)}
    return out


def count_prefix(prefix: str) -> int:
    return sum(1 for pk, _sk in snapshot() if pk.startswith(prefix))


def set_env(monkeypatch: Any, **env: str) -> None:
    """Change settings for one test. The settings are read again at once: the chalice
    test client swaps in .chalice/config.json's variables (stage dev) during a call."""
    from chalicelib.core.settings import get_settings, reset_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    get_settings()


def resolve_example_com_publicly(monkeypatch: Any) -> None:
    """*.example.com resolves to a public address (the SSRF guard resolves webhook
    hosts); other names resolve as usual."""
    import socket

    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host.endswith("example.com"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
