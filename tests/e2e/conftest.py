"""End-to-end: the real local stack (`python -m devstack`, what `make run` starts)
as a subprocess on free loopback ports, spoken to over real HTTP.

Under pytest-xdist each worker that runs e2e tests starts its own stack on its own
ports (a session fixture is per worker), so no test depends on how tests are spread.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_SECRET = "e2e-admin-client-secret"
ADMIN_PASSWORD = "e2e-admin-password-long"
# A bound, not a measure: importing moto's CloudFormation (all of moto) and provisioning
# take about 10 s idle, and near 30 s with two stacks starting on a busy 2-core machine.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


@dataclass
class LocalStack:
    base_url: str
    aws_url: str
    admin_client_id: str
    admin_secret: str
    admin_password: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_env(port: int, aws_port: int) -> dict[str, str]:
    # The unit harness (tests/conftest.py) sets GATEHOUSE_* for in-process tests; the
    # stack must start from the local defaults instead.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GATEHOUSE_") and k != "AWS_ENDPOINT_URL"}
    env.update({
        "GATEHOUSE_PORT": str(port), "GATEHOUSE_AWS_PORT": str(aws_port),
        "GATEHOUSE_ADMIN_CLIENT_SECRET": ADMIN_SECRET,
        "GATEHOUSE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "GATEHOUSE_WEBHOOK_RETRY_SCHEDULE": "1,1,1",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _wait_healthy(proc: subprocess.Popen[bytes], base_url: str) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(f"{base_url}/api/health", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log_dir = tmp_path_factory.mktemp("local-stack")
    for attempt in range(3):  # a free port may be taken between probe and bind
        port, aws_port = _free_port(), _free_port()
        log_path = log_dir / f"stack-{attempt}.log"
        stack = LocalStack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{aws_port}",
                           "admin", ADMIN_SECRET, ADMIN_PASSWORD, log_path)
        with log_path.open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT,
                                    env=_child_env(port, aws_port), stdout=log,
                                    stderr=subprocess.STDOUT)
        if _wait_healthy(proc, stack.base_url):
            break
        _stop(proc)
        if "in use" not in stack.log_tail():
            pytest.fail(f"local stack did not start:\n{stack.log_tail()}")
    else:
        pytest.fail(f"local stack did not start:\n{stack.log_tail()}")
    try:
        yield stack
    finally:
        code = _stop(proc)
        # A clean stop on SIGTERM is part of the contract: exit 0, nothing left running.
        assert code == 0, f"local stack exited with {code} on SIGTERM:\n{stack.log_tail()}"


@pytest.fixture
def http(local_stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_stack.base_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def admin_http(local_stack: LocalStack) -> Iterator[httpx.Client]:
    """A client holding the admin client's bearer token (client credentials)."""
    resp = httpx.post(f"{local_stack.base_url}/api/v1/oauth/token",
                      data={"grant_type": "client_credentials"},
                      auth=(local_stack.admin_client_id, local_stack.admin_secret))
    assert resp.status_code == 200, resp.text
    with httpx.Client(base_url=local_stack.base_url, timeout=10.0, headers={
            "Authorization": f"Bearer {resp.json()['access_token']}"}) as client:
        yield client
