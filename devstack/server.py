"""The local HTTP front: chalice.local's threaded dev server, dressed like API Gateway.

What API Gateway answers before the app (no such route, body too large, a broken
request) is answered from infra/'s GATEWAY_RESPONSES table in the contract's envelope,
as the deployed GatewayResponses do. Nothing ever sends a traceback to the caller.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalGateway,
    LocalGatewayException,
    ThreadedHTTPServer,
)

log = logging.getLogger("gatehouse-local")  # not a child of Chalice's "gatehouse" (ERROR)

# API Gateway refuses payloads over 10 MB before the Lambda sees them.
GATEWAY_MAX_BODY = 10 * 1024 * 1024


class GatewayResponse(LocalGatewayException):
    """An answer API Gateway gives itself; `kind` is a GATEWAY_RESPONSES key."""

    def __init__(self, kind: str, request_id: str) -> None:
        from chalicelib.http import envelope
        from infra.template import GATEWAY_RESPONSES

        status, code, message = GATEWAY_RESPONSES[kind]
        body = envelope.dumps(envelope.error_body(code, message, request_id))
        super().__init__({"Content-Type": envelope.JSON, "X-Request-Id": request_id},
                         body.encode())
        self.CODE = status
        self.kind = kind


def _method_not_allowed(request_id: str) -> tuple[int, dict[str, Any], bytes]:
    from chalicelib.http import envelope

    body = envelope.dumps(envelope.error_body(
        "METHOD_NOT_ALLOWED", "This method is not allowed on this path.", request_id))
    return 405, {"Content-Type": envelope.JSON, "X-Request-Id": request_id,
                 "Allow": "GET, POST, PUT, PATCH, DELETE, OPTIONS"}, body.encode()


def request_id_for(headers: dict[str, Any]) -> str:
    from chalicelib.core import ids
    from chalicelib.edge.middleware import caller_request_id  # the edge's rule, not a copy

    given = next((str(v) for k, v in headers.items() if k.lower() == "x-request-id"), "")
    return caller_request_id(given) or ids.new_id("req")


class Gateway(LocalGateway):
    """One instance shared by all request threads (it holds no per-request state)."""

    def _generate_lambda_event(self, method: str, path: str, headers: dict[str, Any],
                               body: bytes | None) -> dict[str, Any]:
        try:
            event = super()._generate_lambda_event(method, path, headers, body)
        except ValueError:  # no route: API Gateway's MISSING_AUTHENTICATION_TOKEN
            raise GatewayResponse("MISSING_AUTHENTICATION_TOKEN",
                                  request_id_for(headers)) from None
        # API Gateway hands path parameters over decoded; chalice.local does not.
        event["pathParameters"] = {k: unquote(v) for k, v in
                                   (event.get("pathParameters") or {}).items()}
        return event


class RequestHandler(ChaliceRequestHandler):
    server_version = "gatehouse-local"
    # TCP_NODELAY: the headers and the body go out as two writes; with Nagle's algorithm
    # the second waits for the client's delayed ACK, about 40 ms per keep-alive request.
    disable_nagle_algorithm = True

    def __init__(self, request: Any, client_address: tuple[str, int], server: Any,
                 gateway: Gateway) -> None:
        # Skip ChaliceRequestHandler.__init__: it builds a gateway per request.
        self.local_gateway = gateway
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def _read_body(self, headers: dict[str, Any]) -> bytes | None:
        """The request body, or a GatewayResponse if API Gateway would refuse it."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked(headers)
        try:
            length = int(self.headers.get("content-length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            raise GatewayResponse("DEFAULT_4XX", request_id_for(headers)) from None
        if length > GATEWAY_MAX_BODY:
            self.close_connection = True  # the body is left unread
            raise GatewayResponse("REQUEST_TOO_LARGE", request_id_for(headers))
        return self.rfile.read(length) if length else None

    def _read_chunked(self, headers: dict[str, Any]) -> bytes | None:
        body = bytearray()
        while True:
            try:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"x", 16)
            except ValueError:
                self.close_connection = True
                raise GatewayResponse("DEFAULT_4XX", request_id_for(headers)) from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(body) or None
            if len(body) + size > GATEWAY_MAX_BODY:
                self.close_connection = True
                raise GatewayResponse("REQUEST_TOO_LARGE", request_id_for(headers))
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after each chunk

    def _generic_handle(self) -> None:
        headers = dict(self.headers)
        try:
            body = self._read_body(headers)
        except GatewayResponse as exc:
            self._gateway_error(exc)
            return
        try:
            response = self.local_gateway.handle_request(
                method=self.command, path=self.path, headers=headers, body=body)
            out_headers = dict(response["headers"])
            out_headers.update(response.get("multiValueHeaders") or {})
            response = self._handle_binary(response)
            payload = response["body"]
            if self.command == "HEAD":
                payload = None
            self._send_http_response(response["statusCode"], out_headers, payload)
        except GatewayResponse as exc:
            self._gateway_error(exc)
        except Exception:  # noqa: BLE001 - answer like API Gateway's DEFAULT_5XX, log the rest
            log.exception("local gateway failed on %s %s", self.command, self.path)
            self._gateway_error(GatewayResponse("DEFAULT_5XX", request_id_for(headers)))

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _gateway_error(self, exc: GatewayResponse) -> None:
        log.info("gateway %s %s -> %s", self.command, self.path.split("?")[0], exc.CODE)
        body = None if self.command == "HEAD" else exc.body
        self._send_http_response(exc.CODE, dict(exc.headers), body)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """http.server's own errors (unknown method, malformed request line, huge
        headers): the gateway's envelope instead of an HTML page."""
        kind = {413: "REQUEST_TOO_LARGE"}.get(
            code, "DEFAULT_5XX" if code >= 500 else "DEFAULT_4XX")
        self.close_connection = True
        try:
            request_id = request_id_for(dict(self.headers or {}))
            body: bytes | None
            if code == 501:  # a method no route has (TRACE, PROPFIND...): RFC 9110's 405
                status, headers, body = _method_not_allowed(request_id)
            else:
                exc = GatewayResponse(kind, request_id)
                status, headers, body = exc.CODE, dict(exc.headers), exc.body
            headers["Connection"] = "close"
            self._send_http_response(status, headers, body)
        except OSError:
            pass  # the caller went away

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The edge logs every request it sees; this would print each one twice."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        log.debug("http: " + format, *args)


class _HTTPServer(ThreadedHTTPServer):
    # socketserver listens with a backlog of 5: sixteen clients connecting at once
    # overflowed it and the kernel reset some of their connections.
    request_queue_size = 128


class LocalServer:
    """A threaded HTTP server (a thread per connection) in front of the app."""

    def __init__(self, app: Chalice, host: str, port: int, config: Config | None = None) -> None:
        config = config or Config.create(chalice_stage="local", app_name=app.app_name,
                                         lambda_timeout=30, lambda_memory_size=512)
        if not isinstance(app, LocalChalice):
            # What chalice.local.create_local_server does: current_request thread-local.
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        gateway = Gateway(app, config)

        def handler(request: Any, client_address: tuple[str, int], server: Any) -> Any:
            return RequestHandler(request, client_address, server, gateway)

        self.httpd = _HTTPServer((host, port), handler)
        self.host, self.port = host, int(self.httpd.server_address[1])

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        """From another thread: stops serve_forever, then frees the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
