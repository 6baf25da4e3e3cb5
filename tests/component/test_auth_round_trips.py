"""An authenticated request costs two DynamoDB round trips (issue 8: kept through the
repositories' reshaping; `python -m bench` measures the same route): the credential's one
conditional write, which authenticates and charges the limits at once, and the access
log's entry. A route's own reads and writes come on top, never a second one for the
credential."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.component.test_api_keys import signed
from tests.conftest import Api, make_user

VALIDATE = "/api/v1/oauth/token/validate"  # reads nothing of its own
TWO = ["UpdateItem", "PutItem"]  # the guard's write, the access log's entry


class Calls:
    """DynamoDB API calls made through the app's clients (botocore's hooks)."""

    def __init__(self) -> None:
        from chalicelib.core import aws

        self.names: list[str] = []
        self._emitters = [aws.client("dynamodb").meta.events,
                          aws.resource("dynamodb").meta.client.meta.events]
        for events in self._emitters:
            events.register("before-call.dynamodb.*", self._seen, unique_id="auth-round-trips")

    def _seen(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def close(self) -> None:
        for events in self._emitters:
            events.unregister("before-call.dynamodb.*", unique_id="auth-round-trips")

    def of(self, request: Any) -> list[str]:
        """The calls one request makes (warmed first: caches, stale counters cleaned)."""
        assert request().status_code == 200
        self.names.clear()
        resp = request()
        assert resp.status_code == 200, resp.body
        return list(self.names)


@pytest.fixture
def calls(api: Api) -> Iterator[Calls]:
    counted = Calls()
    yield counted
    counted.close()


def test_a_client_bearer_request_costs_two(admin: Api, calls: Calls) -> None:
    assert calls.of(lambda: admin.get(VALIDATE)) == TWO


def test_a_user_bearer_request_costs_two(admin: Api, calls: Calls) -> None:
    user, me = make_user(admin, "ria", ["viewer"])
    assert calls.of(lambda: user.get(VALIDATE)) == TWO
    # A route that reads the user's item: that read on top, not a second credential's.
    made = calls.of(lambda: user.get(f"/api/v1/users/{me['id']}"))
    assert made == ["UpdateItem", "GetItem", "PutItem"]


def test_a_signed_api_key_request_costs_two(admin: Api, calls: Calls) -> None:
    created = admin.post("/api/v1/api-keys", {"name": "rt", "scopes": ["orders:read"],
                                              "requireSignature": True})
    assert created.status_code == 201, created.body
    key, secret = created.json["data"]["key"], created.json["data"]["secret"]
    as_key = admin.as_key(key)
    from chalicelib.core import clock

    # Signed: the nonce, the usage counter and the secret all come with the one write
    # (each request its own timestamp: a signature is good once).
    stamps = iter(range(clock.now_int(), 0, -1))
    assert calls.of(lambda: signed(as_key, secret, "GET", VALIDATE, ts=next(stamps))) == TWO
