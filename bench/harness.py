"""A stack in-process for benchmarks: moto, resources from infra/, the bootstrap."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
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


@dataclass
class StackProcess:
    base: str  # the HTTP API's base URL
    pid: int

    def cpu_seconds(self) -> float:
        """CPU (user + system) the stack's process has used so far, all threads."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def local_stack_process(**env: str) -> Iterator[StackProcess]:
    """`python -m devstack` (what `make run` starts) as a subprocess on free ports, with
    the e2e tests' admin secret and these extra environment variables; stopped (SIGTERM)
    after. Its log is discarded."""
    from tests.e2e.conftest import _child_env, _free_port, _stop, _wait_healthy

    fake_credentials()
    port, aws_port = _free_port(), _free_port()
    child = _child_env(port, aws_port)
    # Benchmarks send far more than the per-minute burst limit a person would.
    child["GATEHOUSE_BURST_LIMIT"] = "1000000"
    child.update(env)
    root = Path(__file__).resolve().parents[1]
    with open(os.devnull, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=root, env=child,
                                stdout=log, stderr=subprocess.STDOUT)
    stack = StackProcess(f"http://127.0.0.1:{port}", proc.pid)
    try:
        assert _wait_healthy(proc, stack.base), "local stack did not start"
        yield stack
    finally:
        _stop(proc)


def local_admin_token(base: str) -> str:
    """A client-credentials token for the admin client of `local_stack_process`."""
    import httpx

    from tests.e2e.conftest import ADMIN_SECRET

    resp = httpx.post(f"{base}/api/v1/oauth/token", data={"grant_type": "client_credentials"},
                      auth=("admin", ADMIN_SECRET))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])
