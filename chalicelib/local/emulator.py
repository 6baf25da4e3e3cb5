"""The AWS emulator: moto's server, one port for every service.

Anything that talks to moto over HTTP from several threads should start it with
`moto_server(port)` rather than moto's ThreadedMotoServer: it makes DynamoDB's
conditional writes atomic, as DynamoDB's are (the local stack uses it).
"""

from __future__ import annotations

import threading
from typing import Any


class _OneDynamoDBCallAtATime:
    """WSGI wrapper: moto's DynamoDB has no locking, so two threads of its server can
    both pass a condition and both write. DynamoDB makes each item write atomic (the
    rate limiter relies on it); serializing DynamoDB calls restores that locally."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def moto_server(port: int, host: str = "127.0.0.1") -> Any:
    """moto's ThreadedMotoServer (not started) with DynamoDB calls serialized."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class MotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # as moto's, with the DynamoDB wrapper
            app = _OneDynamoDBCallAtATime(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return MotoServer(ip_address=host, port=port, verbose=False)
