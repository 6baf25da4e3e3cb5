"""Unit tests: the real app in-process (chalice.test.Client) against moto, with the
resources created from infra/ exactly as the local stack creates them."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["GATEHOUSE_STAGE"] = "test"
os.environ["GATEHOUSE_ISSUER"] = "http://testserver"
# Tests make many users: a cheaper scrypt than the deployed default (2**17).
os.environ.setdefault("GATEHOUSE_PASSWORD_HASH_N", str(2**12))
os.environ.pop("AWS_ENDPOINT_URL", None)

ADMIN_SECRET = "admin-secret-for-tests"
ADMIN_PASSWORD = "admin-password-for-tests"


@pytest.fixture(scope="session")
def _moto() -> Iterator[None]:
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def stack(_moto: None) -> Iterator[None]:
    """A fresh stack per test: provisioned from infra/, bootstrapped."""
    import boto3

    from chalicelib.auth import keyring, limiter
    from chalicelib.auth.bootstrap import bootstrap
    from chalicelib.core import aws, clock
    from chalicelib.core.settings import reset_settings
    from devstack.provision import provision

    reset_settings()
    if os.environ.get("AWS_ENDPOINT_URL"):
        aws.reset()  # a test switched endpoints; otherwise clients survive (same moto)
    keyring.forget()
    clock.reset()
    limiter._stale.clear()
    provision("test")
    bootstrap({"GATEHOUSE_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
               "GATEHOUSE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    yield
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    cfn.delete_stack(StackName="gatehouse-test")
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    for secret in sm.list_secrets()["SecretList"]:
        sm.delete_secret(SecretId=secret["ARN"], ForceDeleteWithoutRecovery=True)
    clock.reset()


class Api:
    """A thin JSON client over chalice.test.Client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.headers: dict[str, str] = {}

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             raw: bytes | str | None = None) -> Any:
        hdrs = {**self.headers, **(headers or {})}
        payload: bytes | str | None = raw
        if body is not None:
            payload = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        resp = self.client.http.request(method, path, headers=hdrs, body=payload or b"")
        resp.json = json.loads(resp.body) if resp.body else None
        return resp

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)

    def as_bearer(self, token: str) -> Api:
        other = Api(self.client)
        other.headers = {"Authorization": f"Bearer {token}"}
        return other

    def as_key(self, key: str) -> Api:
        other = Api(self.client)
        other.headers = {"X-API-Key": key}
        return other


@pytest.fixture
def api(stack: None) -> Iterator[Api]:
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        yield Api(client)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def client_token(api: Api, client_id: str = "admin", secret: str = ADMIN_SECRET,
                 scope: str | None = None) -> dict[str, Any]:
    form = "grant_type=client_credentials" + (f"&scope={scope}" if scope else "")
    resp = api.post("/api/v1/oauth/token", raw=form,
                    headers={"Authorization": basic(client_id, secret),
                             "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 200, resp.body
    return dict(resp.json)


@pytest.fixture
def admin(api: Api) -> Api:
    return api.as_bearer(client_token(api)["access_token"])


def make_user(admin: Api, username: str, roles: list[str]) -> tuple[Api, dict[str, Any]]:
    """A user with the given roles, and an Api logged in as that user."""
    password = "pw-" + username + "-long"
    resp = admin.post("/api/v1/users", {"username": username, "email": f"{username}@ex.com",
                                        "password": password, "roles": roles})
    assert resp.status_code == 201, resp.body
    login = admin.post("/api/v1/auth/login", {"username": username, "password": password},
                       headers={"Authorization": ""})
    assert login.status_code == 200, login.body
    return admin.as_bearer(login.json["access_token"]), resp.json["data"]
