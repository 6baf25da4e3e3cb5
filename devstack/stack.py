"""The whole stack in one process: moto, the resources of infra/, the bootstrap, the
HTTP API and the poller. Nothing heavy is imported at module level: the environment
must be set before the app, the settings or any boto3 client are first touched."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
log = logging.getLogger("gatehouse-local")  # not a child of Chalice's "gatehouse" (ERROR)


def configure_environment(env: MutableMapping[str, str]) -> dict[str, str]:
    """The local stack's defaults (contract section 1); answers the values in force."""
    env.setdefault("GATEHOUSE_PORT", "8000")
    env.setdefault("GATEHOUSE_AWS_PORT", "5000")
    env.setdefault("GATEHOUSE_STAGE", "local")
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # Always the emulator: the local stack must never reach a real account.
    env["AWS_ENDPOINT_URL"] = f"http://{HOST}:{env['GATEHOUSE_AWS_PORT']}"
    env.setdefault("GATEHOUSE_ISSUER", f"http://{HOST}:{env['GATEHOUSE_PORT']}")
    env.setdefault("GATEHOUSE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,localhost")
    from chalicelib.core import aws
    from chalicelib.core.settings import reset_settings

    reset_settings()
    aws.reset()
    return {k: env[k] for k in ("GATEHOUSE_PORT", "GATEHOUSE_AWS_PORT", "GATEHOUSE_STAGE",
                                "AWS_ENDPOINT_URL", "GATEHOUSE_ISSUER")}


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # moto's CloudFormation skips the secret (and says so); provision() creates it by API.
    logging.getLogger("moto").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Tried to parse AWS::SecretsManager::Secret")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _banner(env: dict[str, str], generated: dict[str, str], took: float) -> str:
    client_id = os.environ.get("GATEHOUSE_ADMIN_CLIENT_ID", "admin")
    username = os.environ.get("GATEHOUSE_ADMIN_USERNAME", "admin")

    def shown(name: str) -> str:
        if name in generated:
            return f"{generated[name]}   (generated, shown once)"
        return f"(from ${name})"

    return "\n".join([
        f"Gatehouse local stack up in {took:.1f}s (stage {env['GATEHOUSE_STAGE']})",
        f"  API           {env['GATEHOUSE_ISSUER']}   docs: /api/docs   health: /api/health",
        f"  AWS emulator  {env['AWS_ENDPOINT_URL']}   (moto: in memory, empty at each start)",
        f"  admin client  id {client_id}   secret {shown('GATEHOUSE_ADMIN_CLIENT_SECRET')}",
        f"  admin user    {username}   password {shown('GATEHOUSE_ADMIN_PASSWORD')}",
        "  Ctrl-C stops everything.",
    ])


class Stack:
    """Start and stop, in order; stop() is safe after a partial start."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.moto: Any = None
        self.server: Any = None
        self.poller: Any = None
        self._http_thread: threading.Thread | None = None

    def start(self) -> dict[str, str]:
        from chalicelib.auth.bootstrap import bootstrap
        from chalicelib.core.settings import get_settings
        from devstack.emulator import moto_server
        from devstack.inprocess import serve
        from devstack.poller import Poller
        from devstack.provision import provision
        from devstack.server import LocalServer

        aws_port, port = int(self.env["GATEHOUSE_AWS_PORT"]), int(self.env["GATEHOUSE_PORT"])
        for name, value in (("GATEHOUSE_AWS_PORT", aws_port), ("GATEHOUSE_PORT", port)):
            if not _port_free(value):
                raise RuntimeError(f"port {value} is in use (set ${name} to another)")
        self.moto = moto_server(aws_port, HOST)
        self.moto.start()
        # The app's own calls skip the port (the CLI and other processes still use it).
        serve(self.env["AWS_ENDPOINT_URL"])
        stage = self.env["GATEHOUSE_STAGE"]
        provision(stage)
        generated = bootstrap()

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # app.py's folder
        from app import app

        self.server = LocalServer(app, HOST, port)
        self._http_thread = threading.Thread(target=self.server.serve_forever, name="http",
                                             daemon=True)
        self._http_thread.start()
        self.poller = Poller(app, region=get_settings().region,
                             app_prefix=f"{app.app_name}-{stage}-")
        self.poller.start()
        return generated

    def stop(self) -> None:
        if self._http_thread is not None:  # shutdown() waits for serve_forever to end
            self.server.shutdown()
            self._http_thread.join(5)
        if self.poller is not None:
            self.poller.stop()
        if self.moto is not None:
            from devstack.inprocess import stop_serving

            stop_serving(self.env["AWS_ENDPOINT_URL"])
            self.moto.stop()


def main() -> int:
    started = time.monotonic()
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # the banner shows at once, even piped
    env = configure_environment(os.environ)
    _configure_logging()
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second Ctrl-C while stopping: leave at once
            os._exit(130)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = Stack(env)
    try:
        generated = stack.start()
    except Exception as exc:  # noqa: BLE001 - one clear line, then a clean exit
        log.error("local stack failed to start: %s", exc)
        log.debug("start failure", exc_info=True)
        stack.stop()
        return 1
    print(_banner(env, generated, time.monotonic() - started), flush=True)
    while not stop.wait(0.5):
        pass
    log.info("stopping")
    stack.stop()
    log.info("stopped")
    return 0
