"""A local HTTP server playing a paginated ERP, for the sync tests and bench.

GET  /api/items?cursor=&limit=      cursor pages: {"data": {"items": [...]}, "meta": {"next"}}
     (both: &updatedSince=<RFC 3339 UTC> keeps the items modified since)
GET  /api/pages?page=&pageSize=     page-number pages: {"results": [...]}
POST /oauth/token                   client credentials (HTTP Basic): {access_token, ...}
POST|PUT /api/push/...              a push receiver: records what it got
Every /api/ request must carry `expect_auth` (a header name and value) when it is set, or
a valid OAuth token when `oauth` is set; otherwise 401 (its body echoes the request's
headers, so a test can see that nothing leaks them further). `fail` makes the next
requests to a path answer 500 (its body echoes the headers too).
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Erp:
    def __init__(self, count: int = 0, page_size: int = 10) -> None:
        self.items: list[dict[str, Any]] = [item(i) for i in range(count)]
        self.page_size = page_size
        self.expect_auth: tuple[str, str] | None = None
        self.oauth: tuple[str, str] | None = None   # client id and secret it accepts
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.fail: dict[str, int] = {}               # path -> 500s still to answer
        self.requests: list[tuple[str, str]] = []    # (method, path with query)
        self.pushed: list[tuple[str, str, Any]] = []  # (method, path, body)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Erp:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def find(self, sku: str) -> dict[str, Any]:
        return next(i for i in self.items if i.get("itemNumber") == sku)


def item(i: int, modified: str = "2020-01-01T00:00:00Z") -> dict[str, Any]:
    return {"itemNumber": f"SKU-{i:05d}", "itemName": f"Item {i}",
            "salesPrice": f"{1 + i % 90}.{i % 100:02d}", "itemGroup": "parts",
            "modified": modified, "warehouse": {"bin": f"B{i % 7}"}}


def _handler(erp: Erp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if erp.expect_auth is not None:
                name, value = erp.expect_auth
                return self.headers.get(name) == value
            if erp.oauth is not None:
                got = self.headers.get("Authorization", "")
                return got.startswith("Bearer ") and got[7:] in erp.tokens
            return True

        def _echo(self) -> dict[str, Any]:
            return {"error": "nope", "yourHeaders": dict(self.headers.items())}

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            with erp.lock:
                erp.requests.append(("GET", self.path))
                failing = erp.fail.get(parts.path, 0)
                if failing:
                    erp.fail[parts.path] = failing - 1
            if failing:
                return self._answer(500, self._echo())
            if not self._authorized():
                return self._answer(401, self._echo())
            with erp.lock:
                items = sorted(erp.items, key=lambda i: str(i.get("itemNumber", "")))
            if query.get("updatedSince"):  # RFC 3339 UTC: compared as text
                items = [i for i in items if str(i.get("modified")) >= query["updatedSince"]]
            if parts.path == "/api/items":
                start = int(query.get("cursor") or 0)
                size = int(query.get("limit") or erp.page_size)
                chunk = items[start:start + size]
                following = str(start + size) if start + size < len(items) else None
                return self._answer(200, {"data": {"items": chunk},
                                          "meta": {"next": following}})
            if parts.path == "/api/pages":
                number, size = int(query.get("page", 1)), int(query.get("pageSize", 10))
                return self._answer(200, {"results": items[(number - 1) * size:number * size]})
            return self._answer(404, {"error": "no such path"})

        def do_POST(self) -> None:  # noqa: N802
            body = self._body()
            if self.path == "/oauth/token":
                return self._token(body)
            self._push("POST", body)

        def do_PUT(self) -> None:  # noqa: N802
            self._push("PUT", self._body())

        def _token(self, body: bytes) -> None:
            import base64

            with erp.lock:
                erp.token_requests += 1
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            got = self.headers.get("Authorization", "")
            ok = erp.oauth is not None and form.get("grant_type") == "client_credentials" \
                and got == "Basic " + base64.b64encode(":".join(erp.oauth).encode()).decode()
            if not ok:
                return self._answer(401, {"error": "invalid_client"})
            token = secrets.token_urlsafe(16)
            erp.tokens.add(token)
            self._answer(200, {"access_token": token, "token_type": "Bearer",
                               "expires_in": 3600})

        def _push(self, method: str, body: bytes) -> None:
            with erp.lock:
                erp.requests.append((method, self.path))
            if not self._authorized():
                return self._answer(401, self._echo())
            with erp.lock:
                erp.pushed.append((method, self.path, json.loads(body or b"null")))
            self._answer(201, {"ok": True})

    return Handler
