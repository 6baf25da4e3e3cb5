"""Per-request state shared by the edge and the handlers (thread-local: the local
server is threaded, Lambda runs one request at a time)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from chalicelib.core import ids
from chalicelib.core.principal import Principal


@dataclass
class RequestContext:
    request_id: str
    method: str
    path: str
    resource: str
    ip: str
    user_agent: str
    headers: dict[str, str]
    query: dict[str, str]
    query_pairs: list[tuple[str, str]]
    raw_body: bytes
    started: float
    version: str = ""
    stage: str = ""
    principal: Principal | None = None
    # The caller's own X-Request-Id (echoed, never a storage key).
    client_request_id: str = ""
    # The exception a view answered with itself (Chalice turns a view's exceptions into
    # answers before the edge sees them): the edge reads what it logs from it.
    view_error: Exception | None = None
    # The server's own id of the request: the key of its access-log entry and the
    # requestId of its audit entries. The request id itself unless the caller chose that.
    server_id: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.server_id:
            self.server_id = ids.new_id("req") if self.client_request_id else self.request_id

    @property
    def actor(self) -> Principal:
        """The caller of a route that requires authentication (the edge made sure)."""
        assert self.principal is not None
        return self.principal

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def path_with_query(self) -> str:
        """The path as signed and as idempotency compares it: query parameters in the
        order sent, RFC 3986 encoded."""
        from urllib.parse import quote, urlencode

        if not self.query_pairs:
            return self.path
        return self.path + "?" + urlencode(self.query_pairs, quote_via=quote, safe="-_.~")

    @property
    def base_url(self) -> str:
        from chalicelib.core.settings import get_settings

        issuer = get_settings().issuer
        if issuer:
            return issuer
        proto = self.header("x-forwarded-proto") or "http"
        host = self.header("host") or "localhost"
        if host.endswith(".amazonaws.com") and self.stage:
            # execute-api URLs carry the stage in the path; custom domains do not.
            return f"{proto}://{host}/{self.stage}"
        return f"{proto}://{host}"


_local = threading.local()


def current() -> RequestContext:
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        raise RuntimeError("no request in progress")
    return ctx


def set_current(ctx: RequestContext | None) -> None:
    _local.ctx = ctx
