"""The app's AWS calls answered by the emulator's backends in this process.

moto keeps every service's state in process-global backends; its server is an HTTP front
for them. The local stack runs the app in the server's own process, so a call through
that front paid, twice over, for nothing: botocore's urllib3 and a socket, werkzeug's
HTTP parsing, the domain dispatcher and Flask (about a third of the process's CPU under
load). A botocore `before-send` handler, present in every session created after
`serve(endpoint)`, hands each request addressed to the emulator's port to the backend's
handler directly, as moto's own `mock_aws` does. The port stays open (the AWS CLI, the
e2e tests) and sees the same state; DynamoDB calls take the server's lock, so a
conditional write stays atomic whichever way it arrives. A request this module cannot
place is left to botocore, which sends it to the port.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()
_endpoints: set[str] = set()  # base URLs (scheme://host:port) answered in-process
_installed = False


def serve(endpoint: str) -> None:
    """Answer requests to `endpoint` in-process from now on (every botocore session
    created after this call, and none created before, asks this module first)."""
    global _installed
    from devstack import moto_patches

    moto_patches.apply()
    with _lock:
        _endpoints.add(endpoint.rstrip("/"))
        if not _installed:
            from botocore.handlers import BUILTIN_HANDLERS

            BUILTIN_HANDLERS.append(("before-send", _before_send))
            _installed = True


def stop_serving(endpoint: str) -> None:
    with _lock:
        _endpoints.discard(endpoint.rstrip("/"))


def use_the_port(client: Any) -> None:
    """This client's calls go over HTTP to the port, as another process's do."""
    client.meta.events.unregister("before-send", _before_send)


def _header(headers: Any, name: str) -> str:
    value = headers.get(name) or ""
    return value.decode() if isinstance(value, bytes) else str(value)


@lru_cache(maxsize=256)
def _backend_name(scope_service: str, region: str, target: str, path: str) -> str | None:
    """moto's own rule (its server's) for which backend serves a SigV4 request."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    dispatcher = DomainDispatcherApplication(lambda _service: None)  # type: ignore[arg-type,return-value]
    environ = {"HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=x/d/{region}/"
                                     f"{scope_service}/aws4_request, SignedHeaders=host",
               "HTTP_X_AMZ_TARGET": target, "PATH_INFO": path, "HTTP_HOST": ""}
    host = dispatcher.infer_service_region_host(environ, path)
    backend = dispatcher.get_backend_for_host(host)
    return str(backend) if backend else None


@lru_cache(maxsize=64)
def _routes(backend_name: str) -> list[tuple[re.Pattern[str], Any]]:
    """The backend's handlers by URL path, as its server's Flask app routes them."""
    from moto import backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BackendDict

    backend_dict: Any = backends.get_backend(backend_name)  # type: ignore[call-overload]
    if isinstance(backend_dict, BackendDict):
        regions = backend_dict[DEFAULT_ACCOUNT_ID]
        backend = regions["us-east-1"] if "us-east-1" in regions else regions["aws"]
    else:
        backend = backend_dict["global"]
    return [(re.compile(path if path.endswith("$") else path + "$"), handler)
            for path, handler in backend.url_paths.items()]


def _before_send(request: Any, **_: Any) -> Any:
    url = str(request.url)
    base, rest = _split(url)
    if base not in _endpoints:
        return None
    auth = _header(request.headers, "Authorization")
    scope = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request", auth)
    if scope is None:
        return None
    path = "/" + rest.split("?", 1)[0]
    target = _header(request.headers, "X-Amz-Target")
    name = _backend_name(scope.group(2), scope.group(1), target.split(".", 1)[0],
                         path if scope.group(2) in _PATH_ROUTED else "/")
    if name is None:
        return None
    handler = next((h for pattern, h in _routes(name) if pattern.match(path)), None)
    if handler is None:
        return None
    return _answer(request, handler, name == "dynamodb")


# Services whose backend moto's server tells apart by the path (S3 and S3 Control, SES
# v1 and v2, ...): their path is part of the cache key; for the rest it is not.
_PATH_ROUTED = frozenset({"s3", "ses", "sagemaker", "bedrock", "bedrock-agentcore",
                          "execute-api", "mediastore"})


def _split(url: str) -> tuple[str, str]:
    """'http://h:p/a/b?q' -> ('http://h:p', 'a/b?q')."""
    scheme, _, remainder = url.partition("://")
    host, _, rest = remainder.partition("/")
    return f"{scheme}://{host}", rest


def _answer(request: Any, handler: Any, serialize: bool) -> Any:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse
    from moto.core.exceptions import HTTPException
    from moto.core.request import normalize_request

    from devstack.emulator import DYNAMODB_LOCK

    normalized = normalize_request(request)
    try:
        if serialize:
            with DYNAMODB_LOCK:
                status, headers, body = handler(normalized, normalized.raw_url,
                                                normalized.headers)
        else:
            status, headers, body = handler(normalized, normalized.raw_url,
                                            normalized.headers)
    except HTTPException as exc:
        status, headers, body = exc.code, exc.get_headers(), exc.get_body()
    return AWSResponse(request.url, status, headers, MockRawResponse(body))
