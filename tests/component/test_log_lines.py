"""Log lines (Powertools Logger, JSON): the edge binds the request id, the server's id
when the caller chose the request id, the principal and the Lambda context to every line
of a request and unbinds them after; Lambda handlers bind their context."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from tests.component.helpers import client_grant, make_client

PROBE = "/api/v1/oauth/token/validate"


@contextmanager
def captured() -> Iterator[list[dict[str, Any]]]:
    """The JSON lines the app's logger writes meanwhile, as Powertools formats them
    (filled when the block ends)."""
    from chalicelib.core.logging import get_logger

    log = get_logger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log.registered_formatter)
    std = logging.getLogger(log.name)
    std.addHandler(handler)
    got: list[dict[str, Any]] = []
    try:
        yield got
    finally:
        std.removeHandler(handler)
        got.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_access_line_carries_the_bound_request_id_and_principal(admin, api):
    from chalicelib.core.logging import get_logger

    with captured() as got:
        resp = admin.get(PROBE, headers={"X-Request-Id": "mine-1"})
        get_logger().info("after the request")
    access = next(g for g in got if g["message"] == "request")
    assert access["requestId"] == resp.headers["X-Request-Id"] == "mine-1"
    assert access["principal"] == "client:admin"
    assert access["method"] == "GET" and access["path"] == PROBE and access["status"] == 200
    assert access["latencyMs"] >= 0 and access["ip"] == "127.0.0.0"
    assert access["level"] == "INFO" and access["service"] == "gatehouse-api"
    after = got[-1]
    assert after["message"] == "after the request"
    assert "requestId" not in after and "principal" not in after  # unbound


def test_lines_carry_the_server_id_when_the_caller_chose_the_request_id(admin):
    """The caller's X-Request-Id keys nothing: the server's own id, which keys the
    access-log entry (and audit records), is bound too, so the lines join them."""
    from chalicelib.store import table as store

    with captured() as got:
        chosen = admin.get(PROBE, headers={"X-Request-Id": "mine-2"})
        own = admin.get(PROBE)
    first, second = [g for g in got if g["message"] == "request"]
    assert first["requestId"] == chosen.headers["X-Request-Id"] == "mine-2"
    server_id = first["serverId"]
    assert server_id.startswith("req_") and server_id != "mine-2"
    entry = store.get(f"ALOG#{server_id}", "ALOG")
    assert entry is not None and entry.get("clientRequestId") == "mine-2"
    # An id the server chose is the server's id already: nothing more to bind.
    assert second["requestId"] == own.headers["X-Request-Id"] and "serverId" not in second
    # Chalice hands the API function its Lambda context: Powertools' keys, as for handlers.
    assert first["function_request_id"] and isinstance(first["cold_start"], bool)


def test_every_line_of_a_request_is_bound_even_inside_the_view(admin, monkeypatch):
    from chalicelib.auth.users import roles
    from chalicelib.core.logging import get_logger

    log = get_logger()
    real = roles.list_roles

    def logging_list_roles(*args: Any, **kwargs: Any) -> Any:
        log.info("inside the view")
        return real(*args, **kwargs)

    monkeypatch.setattr(roles, "list_roles", logging_list_roles)
    with captured() as got:
        resp = admin.get("/api/v1/roles")
    assert resp.status_code == 200, resp.body
    inside = next(g for g in got if g["message"] == "inside the view")
    assert inside["requestId"] == resp.headers["X-Request-Id"]
    assert inside["principal"] == "client:admin"


def test_a_429_warning_names_whom_it_counts_against(admin, api):
    cid, secret = make_client(admin, ["orders:read"], rateLimit=1)
    bearer = api.as_bearer(client_grant(api, cid, secret).json["access_token"])
    with captured() as got:
        resp = bearer.get(PROBE)
    assert resp.status_code == 429
    warning = next(g for g in got if g["message"] == "rate limit exceeded")
    assert warning["level"] == "WARNING" and warning["principal"] == f"client:{cid}"
    assert warning["requestId"] == resp.headers["X-Request-Id"]


def test_a_429_the_view_answers_names_the_refused_client(admin, api):
    """The token endpoint answers its own 429 (OAuth form); the refusal carries the
    client its secret verified, which the edge reads from the view's exception."""
    cid, secret = make_client(admin, ["orders:read"], rateLimit=1)
    assert client_grant(api, cid, secret).status_code == 200
    with captured() as got:
        resp = client_grant(api, cid, secret)
    assert resp.status_code == 429
    warning = next(g for g in got if g["message"] == "rate limit exceeded")
    assert warning["principal"] == f"client:{cid}"


def test_lambda_handler_binds_the_context_for_the_call_only():
    from chalicelib.core.logging import get_logger, lambda_handler

    seen: list[dict[str, Any]] = []

    @lambda_handler
    def fan_out(event: Any) -> str:
        seen.append(dict(get_logger().thread_safe_get_current_keys()))
        return "done"

    @lambda_handler
    def bootstrap(event: dict, context: Any) -> str:
        seen.append(dict(get_logger().thread_safe_get_current_keys()))
        return "booted"

    ctx = SimpleNamespace(function_name="gatehouse-test-fan_out", memory_limit_in_mb=512,
                          invoked_function_arn="arn:aws:lambda:us-east-1:1:function:f",
                          aws_request_id="lambda-req-1")
    assert fan_out.__name__ == "fan_out"  # Chalice names the function after it
    assert fan_out(SimpleNamespace(context=ctx)) == "done"
    assert seen[0]["function_name"] == "gatehouse-test-fan_out"
    assert seen[0]["function_request_id"] == "lambda-req-1"
    assert seen[0]["function_memory_size"] == 512 and seen[0]["cold_start"] in (True, False)
    assert "function_name" not in get_logger().thread_safe_get_current_keys()
    assert bootstrap({}, ctx) == "booted" and seen[1]["function_request_id"] == "lambda-req-1"
    assert bootstrap({}, None) == "booted"  # a direct call: nothing to bind
    assert "function_name" not in seen[2]
