"""The generic REST connector (type `rest`): pulls JSON pages from a base URL into one of
our resources through a field mapping, and pushes our records out.

Config (public):
    baseUrl                 https://erp.example.com/api
    resource                products | customers | inventory | ... (the sync's target)
    pull: {path, pagination: cursor|page|none, cursorParam, cursorField, pageParam,
           pageSizeParam, pageSize, firstPage, itemsField, query,
           since: {param, format: iso|unix|unix_ms, overlapSeconds}}   (incremental
                            pulls: sync_service.py keeps the mark)
    mapping                 {ourField: "theirField" or "dotted.path"}
                            (resource and mapping: required unless push-only)
    naturalKey              our field the upsert matches on (default: the resource's)
    updatedAtField          their last-modified time (dotted path): conflicts by it
    sourceOfTruth           our fields the remote always wins
    push: {path, method, events}   where push() sends a mapped record ({field}
                            placeholders), and the event types push_event() sends
    schedule: {everyMinutes} scheduled syncs (sync_schedule.py)

Credentials (encrypted, never presented): {auth: none|bearer|basic|apiKey|oauth2, ...}.
OAuth 2.0 client credentials (RFC 6749 4.4): the token is fetched from tokenUrl (client
authenticated with HTTP Basic, 2.3.1, or in the body), cached per container until just
before it expires, and fetched again once when the API answers 401.

Every request goes through outbound.request (the SSRF guard, bounded time and size, no
redirects); transient failures (5xx, 408, 429, timeouts, refused connections) are tried
ATTEMPTS times with exponential backoff (Retry-After honoured up to MAX_WAIT).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import math
import re
import time
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from pydantic import BaseModel

from chalicelib.integrations import outbound
from chalicelib.integrations.connector import (
    PULL,
    PUSH,
    Connection,
    ConnectorType,
    Page,
    TestResult,
    Unsupported,
    dig,
    origin,
    register,
)
from chalicelib.integrations.outbound import Answer, RemoteError
from chalicelib.integrations.rest_models import OAuth2Auth, RestConfig, RestCredentials

ATTEMPTS = 3        # tries of one call when the failure is transient
BACKOFF = 0.5       # seconds before the second try; doubled each time
MAX_WAIT = 10.0     # the longest wait between tries (a Retry-After beyond it is capped)
TOKEN_MARGIN = 30   # seconds before expiry an OAuth token is fetched again
MAX_PAGE = 1000     # records of one pulled page at most (pageSize, when lower, bounds it)


def _place(out: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        out = out.setdefault(part, {})
    out[parts[-1]] = value


def _url(base: str, path: str, params: dict[str, str] | None = None) -> str:
    url = base.rstrip("/") + path
    return url + ("?" + urlencode(params) if params else "")


_CONFIGS: dict[tuple[str, int, str], RestConfig] = {}   # per container
_TOKENS: dict[str, tuple[str, float]] = {}   # per container: cache key -> (token, expiry)
MAX_TOKENS = 256        # cached tokens per container (the oldest go first)
TOKEN_MAX_LIFE = 3600   # seconds a token is cached at most, whatever expires_in says


def _token_key(connection: Connection) -> str:
    # The credentials and where they go (the token URL's and the API's origins): a
    # changed secret or address never reuses a token fetched for another.
    where = [origin(str(connection.credentials.get("tokenUrl") or "")),
             origin(str(connection.config.get("baseUrl") or ""))]
    material = json.dumps([connection.credentials, where], sort_keys=True)
    return f"{connection.id}#{hashlib.sha256(material.encode()).hexdigest()}"


def _lifetime(expires_in: Any) -> float:
    """Seconds to cache a token: expires_in, but absent, unreadable, not finite or
    beyond TOKEN_MAX_LIFE counts as TOKEN_MAX_LIFE."""
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return TOKEN_MAX_LIFE
    return seconds if math.isfinite(seconds) and 0 < seconds <= TOKEN_MAX_LIFE \
        else TOKEN_MAX_LIFE


def _cache_token(key: str, token: str, lifetime: float) -> None:
    now = time.time()
    if len(_TOKENS) >= MAX_TOKENS:
        for stale in [k for k, (_t, until) in _TOKENS.items() if until <= now]:
            del _TOKENS[stale]
        while len(_TOKENS) >= MAX_TOKENS:
            del _TOKENS[next(iter(_TOKENS))]
    _TOKENS[key] = (token, now + max(lifetime - TOKEN_MARGIN, 1))


class RestConnector(ConnectorType):
    type = "rest"
    title = "Generic REST API"
    description = ("Any JSON REST API: pulls pages (cursor or page number) into one of our "
                   "resources through a field mapping, and pushes records out. Auth: "
                   "bearer, basic, an API key header, or OAuth 2.0 client credentials.")
    directions = frozenset({PULL, PUSH})
    # builtins.type: `type` is the class's own attribute (the connector type's name)
    config_model: ClassVar[builtins.type[BaseModel]] = RestConfig
    credentials_model: ClassVar[builtins.type[BaseModel] | None] = RestCredentials

    # -- config ----------------------------------------------------------------------
    def config(self, connection: Connection) -> RestConfig:
        """The connection's config, parsed once per version (a sync maps every record
        through it)."""
        key = (connection.id, connection.version, connection.updated_at)
        parsed = _CONFIGS.get(key)
        if parsed is None:
            fresh = self.config_model.model_validate(connection.config)
            assert isinstance(fresh, RestConfig)
            parsed = fresh
            if len(_CONFIGS) >= 256:
                _CONFIGS.clear()
            _CONFIGS[key] = parsed
        return parsed

    # -- the interface -----------------------------------------------------------------
    def test(self, connection: Connection) -> TestResult:
        cfg = self.config(connection)
        path = cfg.pull.path if cfg.pull else "/"
        try:
            answer = self.call(connection, "GET", _url(cfg.base_url, path), attempts=1)
        except RemoteError as exc:
            return TestResult(False, exc.message)
        return TestResult(True, f"GET {path} answered {answer.status}.",
                          {"status": answer.status})

    def pull(self, connection: Connection, cursor: str | None,
             since: float | None = None) -> Page:
        """One page; `since` (epoch seconds), when the pull has `since` configured, goes
        as its parameter on every page (an incremental run)."""
        cfg = self.config(connection)
        pull = cfg.pull
        if pull is None:
            raise Unsupported("This connection has no pull configured.")
        params = dict(pull.query)
        if pull.since is not None and since is not None:
            params[pull.since.param] = since_value(since, pull.since.format)
        number = int(cursor) if pull.pagination == "page" and cursor else pull.first_page
        if pull.pagination == "cursor" and cursor:
            params[pull.cursor_param] = cursor
        elif pull.pagination == "page":
            params[pull.page_param] = str(number)
        # The page size we accept is asked for: by number pages always (`pageSize` unless
        # named otherwise), cursor pages (as Stripe's `limit`) when the config names the
        # parameter: a strict remote may refuse a parameter it does not know.
        size_param = pull.page_size_param or ("pageSize" if pull.pagination == "page"
                                              else None)
        if pull.pagination != "none" and size_param and size_param not in pull.query:
            params[size_param] = str(pull.page_size)
        answer = self.call(connection, "GET", _url(cfg.base_url, pull.path, params))
        try:
            data = json.loads(answer.body)
        except ValueError:
            raise RemoteError(f"GET {pull.path} answered something that is not JSON",
                              transient=False) from None
        items = dig(data, pull.items_field) if pull.items_field else data
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise RemoteError(f"GET {pull.path}: no array of objects at "
                              f"{pull.items_field or 'the top'} of the answer",
                              transient=False)
        most = min(pull.page_size, MAX_PAGE)
        if len(items) > most:
            raise RemoteError(f"GET {pull.path} answered {len(items)} records in one page, "
                              f"more than the {most} a page may hold (pageSize)",
                              transient=False)
        following: str | None = None
        if pull.pagination == "cursor":
            found = dig(data, pull.cursor_field)
            following = str(found) if found not in (None, "", False) else None
            if following is not None and following == cursor:
                raise RemoteError(f"GET {pull.path} answered the same cursor again",
                                  transient=False)
        elif pull.pagination == "page" and len(items) >= pull.page_size:
            following = str(number + 1)
        return Page(items, following)

    def map_in(self, connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ours, theirs in self._mapping(connection).items():
            value = dig(record, theirs)
            if value is not None or _present(record, theirs):
                out[ours] = value
        return out

    def map_out(self, connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ours, theirs in self._mapping(connection).items():
            if ours in record:
                _place(out, theirs, record[ours])
        return out

    def _mapping(self, connection: Connection) -> dict[str, str]:
        mapping = self.config(connection).mapping
        if mapping is None:
            raise Unsupported("This connection has no mapping (it pushes events only).")
        return mapping

    def updated_at(self, connection: Connection, record: dict[str, Any]) -> float | None:
        """Their last-modified time of a record, as epoch seconds (None: not given or
        not readable)."""
        field = self.config(connection).updated_at_field
        return None if not field else _epoch(dig(record, field))

    def push(self, connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config(connection)
        if cfg.push is None:
            raise Unsupported("This connection has no push configured.")
        path = re.sub(r"\{([A-Za-z0-9_]+)\}",
                      lambda m: quote(str(record.get(m.group(1), "")), safe=""), cfg.push.path)
        body = json.dumps(self.map_out(connection, record)).encode()
        answer = self.call(connection, cfg.push.method, _url(cfg.base_url, path), body=body,
                           content_type="application/json")
        return {"status": answer.status}

    def push_event(self, connection: Connection, event: dict[str, Any]) -> dict[str, Any]:
        """One event ({id, event, timestamp, data}, as a webhook gets it) to baseUrl +
        push.path, tried once: the push queue retries (push_worker.py). The event id
        goes as Idempotency-Key, so the receiver can tell a retry from a new event."""
        cfg = self.config(connection)
        if cfg.push is None:
            raise Unsupported("This connection has no push configured.")
        data = event.get("data")
        data = data if isinstance(data, dict) else {}
        path = re.sub(r"\{([A-Za-z0-9_]+)\}",
                      lambda m: quote(str(data.get(m.group(1), "")), safe=""), cfg.push.path)
        body = json.dumps(event, separators=(",", ":")).encode()
        answer = self.call(connection, cfg.push.method, _url(cfg.base_url, path), body=body,
                           content_type="application/json", attempts=1, extra={
                               "Idempotency-Key": str(event.get("id", "")),
                               "X-Gatehouse-Event": str(event.get("event", ""))})
        return {"status": answer.status}

    # -- calls ------------------------------------------------------------------------
    def call(self, connection: Connection, method: str, url: str, *, body: bytes | None = None,
             content_type: str | None = None, attempts: int | None = None,
             extra: dict[str, str] | None = None) -> Answer:
        """One call with its auth, retried while the failure is transient; a 4xx (after
        one new OAuth token on a 401) raises a non-transient RemoteError."""
        path = url.split("?", 1)[0]
        path = "/" + path.split("/", 3)[3] if path.count("/") >= 3 else "/"
        tries = attempts or ATTEMPTS
        renewed = False
        attempt = 0
        while True:
            headers = {"Accept": "application/json", "User-Agent": "Gatehouse-Sync/1"}
            if content_type:
                headers["Content-Type"] = content_type
            headers.update(extra or {})
            headers.update(self._auth(connection))
            try:
                answer = outbound.request(method, url, headers=headers, body=body)
            except RemoteError as exc:
                attempt += 1
                if not exc.transient or attempt >= tries:
                    tried = f" ({attempt} tries)" if exc.transient and attempt > 1 else ""
                    raise RemoteError(f"{method} {path}: {exc.message}{tried}",
                                      transient=exc.transient, status=exc.status) from None
                wait = BACKOFF * 2 ** (attempt - 1)
                time.sleep(min(max(wait, exc.retry_after or 0), MAX_WAIT))
                continue
            if answer.status == 401 and not renewed and self._is_oauth(connection):
                _TOKENS.pop(_token_key(connection), None)
                renewed = True
                continue
            if answer.status >= 400:
                raise RemoteError(f"{method} {path} answered {answer.status}",
                                  transient=False, status=answer.status)
            return answer

    def _is_oauth(self, connection: Connection) -> bool:
        return connection.credentials.get("auth") == "oauth2"

    def _auth(self, connection: Connection) -> dict[str, str]:
        creds = connection.credentials
        auth = creds.get("auth", "none")
        if auth == "bearer":
            return {"Authorization": f"Bearer {creds['token']}"}
        if auth == "basic":
            pair = f"{creds['username']}:{creds.get('password', '')}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if auth == "apiKey":
            return {str(creds.get("header") or "X-API-Key"): str(creds["key"])}
        if auth == "oauth2":
            return {"Authorization": f"Bearer {self._token(connection)}"}
        return {}

    def _token(self, connection: Connection) -> str:
        key = _token_key(connection)
        cached = _TOKENS.get(key)
        if cached and cached[1] > time.time():
            return cached[0]
        creds = OAuth2Auth.model_validate(connection.credentials)
        form = {"grant_type": "client_credentials"}
        if creds.scope:
            form["scope"] = creds.scope
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Accept": "application/json"}
        if creds.client_auth == "basic":
            # RFC 6749 2.3.1: both form-encoded before they are joined.
            pair = f"{quote(creds.client_id, safe='')}:{quote(creds.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form.update(client_id=creds.client_id, client_secret=creds.client_secret)
        try:
            answer = outbound.request("POST", creds.token_url, headers=headers,
                                      body=urlencode(form).encode())
        except RemoteError as exc:
            raise RemoteError(f"the token endpoint: {exc.message}", transient=exc.transient,
                              status=exc.status) from None
        try:
            data = json.loads(answer.body)
            token = str(data["access_token"])
            lifetime = _lifetime(data.get("expires_in"))
        except (ValueError, KeyError, TypeError):
            raise RemoteError(f"the token endpoint answered {answer.status} without an "
                              "access token", transient=False, status=answer.status) from None
        if answer.status >= 400 or not token:
            raise RemoteError(f"the token endpoint answered {answer.status}",
                              transient=False, status=answer.status)
        _cache_token(key, token, lifetime)
        return token


def since_value(since: float, form: str) -> str:
    """The since parameter's text: RFC 3339 UTC to the second (rounded down: a margin,
    never a gap), epoch seconds or epoch milliseconds."""
    if form == "unix":
        return str(int(math.floor(since)))
    if form == "unix_ms":
        return str(int(math.floor(since * 1000)))
    from datetime import UTC, datetime

    return datetime.fromtimestamp(math.floor(since), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _present(record: dict[str, Any], path: str) -> bool:
    """Whether a dotted path is there (with a null value)."""
    head, _, last = path.rpartition(".")
    parent = dig(record, head) if head else record
    return isinstance(parent, dict) and last in parent


def _epoch(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) / (1000 if value > 1e11 else 1)   # milliseconds too
    from datetime import datetime

    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None   # a local time is not comparable: treated as not given
    return stamp.timestamp()


REST = register(RestConnector())
