"""/api/docs as one self-contained HTML page (no script, no CDN: it works offline): the
operations of the OpenAPI document grouped by tag, and the error codes each error's
`documentation` link points to."""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from typing import Any

from chalicelib.core.errors import ERRORS, anchor
from chalicelib.docs import openapi

METHODS = ("get", "post", "put", "patch", "delete")
_TICKS = re.compile(r"`([^`]+)`")
STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;
color:#1d1d1f}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;
vertical-align:top;border-bottom:1px solid #eee}
code{font:13px ui-monospace,monospace}.m{font-weight:600;width:4.5rem}
.get{color:#0a6}.post{color:#06c}.put,.patch{color:#a60}.delete{color:#c22}
.dep{color:#888}nav a{margin-right:1rem}:target{background:#fff7d6}
"""


def _operations(doc: dict[str, Any], version: str) -> dict[str, list[dict[str, Any]]]:
    """Operations by tag: those of `version` and the unversioned ones."""
    tags: dict[str, list[dict[str, Any]]] = {}
    for path, ops in doc["paths"].items():
        if path.startswith("/api/v") and not path.startswith(f"/api/{version}/"):
            continue
        for method in METHODS:
            if method in ops:
                op = ops[method]
                tags.setdefault(op["tags"][0] or "Other", []).append(
                    {"method": method, "path": path, **op})
    return tags


def _text(value: str) -> str:
    """Escaped, with `code` spans."""
    return _TICKS.sub(r"<code>\1</code>", escape(value))


def _row(op: dict[str, Any]) -> str:
    scopes = ", ".join(op.get("x-required-scopes") or [])
    who = (f"<code>{escape(scopes)}</code>" if scopes
           else "any credentials" if op.get("security") else "public")
    dep = ' <span class="dep">(deprecated)</span>' if op.get("deprecated") else ""
    return (f'<tr id="{escape(op["operationId"])}"><td class="m {op["method"]}">'
            f'{op["method"].upper()}</td><td><code>{escape(op["path"])}</code>{dep}</td>'
            f'<td>{escape(op.get("summary") or "")}</td><td>{who}</td></tr>')


@lru_cache(maxsize=4)
def render(version: str = "v2") -> str:
    doc = openapi.document()
    other = "v1" if version == "v2" else "v2"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>Gatehouse API ({version})</title><style>{STYLE}</style></head><body>",
        f"<h1>Gatehouse API</h1><p>{escape(doc['info']['description'])}</p>",
        "<nav><a href='/api/docs/openapi.json'>openapi.json</a>"
        "<a href='/api/docs/openapi.yaml'>openapi.yaml</a>"
        "<a href='/.well-known/oauth-authorization-server'>OAuth metadata</a>"
        "<a href='/api/health'>health</a><a href='#errors'>error codes</a></nav>",
        f"<p>Operations of <b>{version}</b> (and the unversioned ones); "
        f"<a href='/api/docs?version={other}'>see {other}</a>. Authenticate with "
        "<code>Authorization: Bearer &lt;token&gt;</code> (<code>POST /api/v2/oauth/token"
        "</code> or <code>POST /api/v2/auth/login</code>) or <code>X-API-Key</code>; the "
        "last column is the scope an operation needs. Answers are <code>{\"data\": ...}"
        "</code>; lists add <code>pagination</code> (<code>perPage</code>, "
        "<code>nextCursor</code>, <code>hasMore</code>).</p>",
    ]
    for tag, ops in sorted(_operations(doc, version).items()):
        ops.sort(key=lambda o: (o["path"], METHODS.index(o["method"])))
        parts.append(f"<h2 id='tag-{escape(tag.lower().replace(' ', '-'))}'>{escape(tag)}</h2>"
                     "<table><tr><th>method</th><th>path</th><th>summary</th>"
                     "<th>scopes</th></tr>")
        parts += [_row(op) for op in ops]
        parts.append("</table>")
    parts.append("<h2 id=errors>Error codes</h2><p>Every error but the OAuth endpoints' "
                 "(RFC 6749 <code>{\"error\", \"error_description\"}</code>) answers "
                 "<code>{\"error\": {\"code\", \"message\", \"details\", \"requestId\", "
                 "\"timestamp\", \"documentation\"}}</code>; <code>documentation</code> "
                 "links to the code's entry here.</p><table><tr><th>code</th><th>status"
                 "</th><th>meaning</th><th>what to do</th></tr>")
    for code, (statuses, meaning, action) in ERRORS.items():
        parts.append(f"<tr id={anchor(code)}><td><code>{code}</code></td><td>{statuses}</td>"
                     f"<td>{_text(meaning)}</td><td>{_text(action)}</td></tr>")
    parts.append("</table></body></html>")
    return "".join(parts)
