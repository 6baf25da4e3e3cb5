"""A stack in-process for benchmarks: moto, resources from infra/, the bootstrap."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ADMIN_SECRET = "bench-admin-secret"


def fake_credentials() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _env() -> None:
    fake_credentials()
    os.environ["GATEHOUSE_STAGE"] = "bench"
    os.environ["GATEHOUSE_ISSUER"] = "http://bench"
    # Benchmarks send hundreds of requests a minute; the burst limit would refuse them.
    os.environ["GATEHOUSE_BURST_LIMIT"] = "1000000"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    os.environ.pop("AWS_ENDPOINT_URL", None)


@contextmanager
def in_process_stack() -> Iterator[Any]:
    """Yields a chalice.test.Client over the real app, against moto in this process."""
    _env()
    from chalice.test import Client
    from moto import mock_aws

    with mock_aws():
        from chalicelib.auth.bootstrap import bootstrap
        from chalicelib.core import aws
        from chalicelib.core.settings import reset_settings
        from devstack.provision import provision

        reset_settings()
        aws.reset()
        provision("bench")
        bootstrap({"GATEHOUSE_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
                   "GATEHOUSE_ADMIN_PASSWORD": "bench-admin-password"})
        from app import app
        from chalicelib.core.logging import get_logger

        # The test client applies the stage's POWERTOOLS_LOG_LEVEL during calls.
        get_logger().setLevel("WARNING")
        with Client(app) as client:
            yield client


def request(client: Any, method: str, path: str, headers: dict[str, str] | None = None,
            body: Any = None) -> Any:
    hdrs = dict(headers or {})
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    return client.http.request(method, path, headers=hdrs, body=payload)


def admin_token(client: Any) -> str:
    basic = base64.b64encode(f"admin:{ADMIN_SECRET}".encode()).decode()
    resp = client.http.post("/api/v1/oauth/token", body="grant_type=client_credentials",
                            headers={"Authorization": f"Basic {basic}",
                                     "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 200, resp.body
    return str(json.loads(resp.body)["access_token"])


class DynamoCounter:
    """Counts DynamoDB API calls, and the time spent in them, through botocore's hooks."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.seconds = 0.0
        self._started = 0.0
        from chalicelib.core import aws

        for events in (aws.client("dynamodb").meta.events,
                       aws.resource("dynamodb").meta.client.meta.events):
            events.register("before-call.dynamodb.*", self._before)
            events.register("after-call.dynamodb.*", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)
        self._started = time.perf_counter()

    def _after(self, **_: Any) -> None:
        self.seconds += time.perf_counter() - self._started

    def reset(self) -> None:
        self.calls.clear()
        self.seconds = 0.0
