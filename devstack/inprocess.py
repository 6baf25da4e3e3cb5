"""The app's AWS calls answered by the emulator's backends in this process.

moto keeps every service's state in process-global backends; its server is an HTTP front
for them. The local stack runs the app in the server's own process, so a call through
that front paid, twice over, for nothing: botocore's signing, urllib3 and a socket,
werkzeug's HTTP parsing, the domain dispatcher and Flask (over a third of the process's
CPU under load). Handlers present in every botocore session created after
`serve(endpoint)` hand each request addressed to the emulator's port to the backend's
handler directly, as moto's own `mock_aws` does:

- `before-call` (JSON-protocol operations without streams: DynamoDB, SQS, Secrets
  Manager, KMS): the request as botocore serialized it, with a SigV4-shaped but unsigned
  Authorization header (moto reads the access key and region from it and checks no
  signature), and the answer parsed by botocore's own parser; no signing, no HTTP;
- `before-send` (everything else): the signed request, past botocore's HTTP layer.

The port stays open (the AWS CLI, the e2e tests) and sees the same state; DynamoDB calls
take the server's lock, so a conditional write stays atomic whichever way it arrives. A
request this module cannot place is left to botocore, which sends it to the port.
"""

from __future__ import annotations

import re
import threading
import time
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

            # Last of the general handlers: botocore's own run first.
            BUILTIN_HANDLERS.append(("before-call", _before_call))
            BUILTIN_HANDLERS.append(("before-send", _before_send))
            _installed = True


def stop_serving(endpoint: str) -> None:
    with _lock:
        _endpoints.discard(endpoint.rstrip("/"))


def use_the_port(client: Any) -> None:
    """This client's calls go over HTTP to the port, as another process's do."""
    client.meta.events.unregister("before-call", _before_call)
    client.meta.events.unregister("before-send", _before_send)


# -- which backend, which handler -----------------------------------------------------

# Services whose backend moto's server tells apart by the path (S3 and S3 Control, SES
# v1 and v2, ...): their path is part of the cache key; for the rest it is not.
_PATH_ROUTED = frozenset({"s3", "ses", "sagemaker", "bedrock", "bedrock-agentcore",
                          "execute-api", "mediastore"})


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


def _handler_for(url: str, headers: Any) -> tuple[Any, bool] | None:
    """moto's handler for a request to one of our endpoints, and whether it is
    DynamoDB's (one call at a time); None to leave the request to botocore."""
    scheme, _, remainder = url.partition("://")
    host, _, rest = remainder.partition("/")
    if f"{scheme}://{host}" not in _endpoints:
        return None
    scope = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request",
                      _header(headers, "Authorization"))
    if scope is None:
        return None
    path = "/" + rest.split("?", 1)[0]
    target = _header(headers, "X-Amz-Target").split(".", 1)[0]
    name = _backend_name(scope.group(2), scope.group(1), target,
                         path if scope.group(2) in _PATH_ROUTED else "/")
    if name is None:
        return None
    handler = next((h for pattern, h in _routes(name) if pattern.match(path)), None)
    return None if handler is None else (handler, name == "dynamodb")


def _header(headers: Any, name: str) -> str:
    value = headers.get(name) or ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _dispatch(request: Any, handler: Any, one_at_a_time: bool) -> tuple[int, Any, Any]:
    from moto.core.exceptions import HTTPException
    from moto.core.request import normalize_request

    from devstack.emulator import DYNAMODB_LOCK

    normalized = normalize_request(request)
    try:
        if one_at_a_time:
            with DYNAMODB_LOCK:
                answer = handler(normalized, normalized.raw_url, normalized.headers)
        else:
            answer = handler(normalized, normalized.raw_url, normalized.headers)
    except HTTPException as exc:
        answer = exc.code, exc.get_headers(), exc.get_body()
    status, headers, body = answer
    return int(status or 500), headers, body


def _response(url: str, status: int, headers: Any, body: Any) -> Any:
    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse

    return AWSResponse(url, status, headers, MockRawResponse(body))


# -- the two hooks ----------------------------------------------------------------------

def _before_send(request: Any, **_: Any) -> Any:
    found = _handler_for(str(request.url), request.headers)
    if found is None:
        return None
    return _response(request.url, *_dispatch(request, *found))


def _before_call(model: Any, params: dict[str, Any], request_signer: Any,
                 context: dict[str, Any], **_: Any) -> Any:
    """(http response, parsed answer) for a plain JSON-protocol call, as botocore's
    endpoint would have made them; None to let botocore go on (to `_before_send`)."""
    from botocore.awsrequest import create_request_object
    from botocore.endpoint import convert_to_response_dict

    from devstack.moto_patches import answers_kept

    service = model.service_model
    url = str(params.get("url") or "")
    credentials = getattr(request_signer, "_credentials", None)
    if (service.resolved_protocol != "json" or model.has_streaming_input
            or model.has_streaming_output or model.has_event_stream_output
            or credentials is None or not url.startswith(tuple(_endpoints))):
        return None
    request = create_request_object(params)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    request.headers["X-Amz-Date"] = stamp
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{stamp[:8]}/"
        f"{request_signer.region_name}/{service.signing_name}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=in-process")
    prepared = request.prepare()
    found = _handler_for(url, prepared.headers)
    if found is None:
        return None
    with answers_kept() as kept:
        http = _response(url, *_dispatch(prepared, *found))
    if kept and http.status_code == 200:  # DynamoDB's answer, as the parser would give it
        members = model.output_shape.members  # the parser keeps only the model's members
        parsed = {k: v for k, v in kept[0].items() if k in members}
        parsed["ResponseMetadata"] = {
            "RequestId": http.headers.get("x-amzn-requestid", ""), "HTTPStatusCode": 200,
            "HTTPHeaders": {k.lower(): v for k, v in http.headers.items()},
            "RetryAttempts": 0}
        return http, parsed
    response = convert_to_response_dict(http, model)
    parser = _parser(service.resolved_protocol)
    parsed = parser.parse(response, model.output_shape)
    if http.status_code >= 300:  # as botocore's endpoint: the error's modeled fields
        code = parsed.get("Error", {}).get("Code")
        shape = service.shape_for_error_code(code) if code else None
        if shape is not None:
            parsed.update(parser.parse(response, shape))
    parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0
    return http, parsed


@lru_cache(maxsize=8)
def _parser(protocol: str) -> Any:
    from botocore.parsers import ResponseParserFactory

    return ResponseParserFactory().create_parser(protocol)
