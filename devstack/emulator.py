"""The AWS emulator: moto's server, one port for every service.

Anything that talks to moto over HTTP from several threads should start it with
`moto_server(port)` rather than moto's ThreadedMotoServer: it makes DynamoDB's
conditional writes atomic, as DynamoDB's are (the local stack uses it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

HOST = "127.0.0.1"

# moto's DynamoDB has no locking, so two threads can both pass a condition and both
# write. DynamoDB makes each item write atomic (the rate limiter relies on it);
# serializing DynamoDB calls restores that locally. One lock for the process, taken by
# the server's threads and by the calls answered in-process (devstack/inprocess.py).
DYNAMODB_LOCK = threading.Lock()


class _OneDynamoDBCallAtATime:
    """WSGI wrapper: the server's DynamoDB calls one at a time (DYNAMODB_LOCK)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with DYNAMODB_LOCK:
            return list(self.app(environ, start_response))


def moto_server(port: int, host: str = HOST) -> Any:
    """moto's ThreadedMotoServer (not started) with DynamoDB calls serialized and moto's
    hot paths made to cost what they touch (devstack/moto_patches/)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    from devstack import moto_patches

    moto_patches.apply()

    class MotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # as moto's, with the DynamoDB wrapper
            app = _OneDynamoDBCallAtATime(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return MotoServer(ip_address=host, port=port, verbose=False)


@contextmanager
def provisioned(stage: str) -> Iterator[str]:
    """The emulator on a free loopback port with infra/ provisioned for `stage`, boto3
    pointed at it for the duration, this process's calls answered in-process as the
    local stack's are: for tests and benchmarks that need real concurrency (moto's
    mock_aws is not atomic under threads; the emulator takes its DynamoDB lock). Yields
    the endpoint URL."""
    import logging
    import os
    import socket

    from chalicelib.core import aws
    from chalicelib.core.settings import reset_settings
    from devstack.inprocess import serve, stop_serving
    from devstack.provision import provision

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = int(sock.getsockname()[1])
    server = moto_server(port)
    server.start()
    endpoint = f"http://{HOST}:{port}"
    serve(endpoint)  # as the local stack does: this process's calls skip the port
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "GATEHOUSE_STAGE")}
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "GATEHOUSE_STAGE": stage})
    reset_settings()
    aws.reset()
    try:
        provision(stage)
        yield endpoint
    finally:
        stop_serving(endpoint)
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
        aws.reset()


def race(threads: int, per_thread: int, attempt: Callable[[], bool]) -> tuple[int, int]:
    """Every thread starts at once and calls `attempt` `per_thread` times; answers how
    many attempts succeeded and how many were refused."""
    succeeded = [0] * threads
    refused = [0] * threads
    barrier = threading.Barrier(threads)

    def worker(i: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            if attempt():
                succeeded[i] += 1
            else:
                refused[i] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(succeeded), sum(refused)
