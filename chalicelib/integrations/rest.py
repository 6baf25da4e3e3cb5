"""The generic REST connector (type `rest`): pulls JSON pages from a base URL into one of
our resources through a field mapping, and pushes our records out.

Config (public):
    baseUrl                 https://erp.example.com/api
    resource                products | customers | inventory | ... (the sync's target)
    pull: {path, pagination: cursor|page|none, cursorParam, cursorField, pageParam,
           pageSizeParam, pageSize, firstPage, itemsField, query}
    mapping                 {ourField: "theirField" or "dotted.path"}
    naturalKey              our field the upsert matches on (default: the resource's)
    updatedAtField          their last-modified time (dotted path): conflicts by it
    sourceOfTruth           our fields the remote always wins
    push: {path, method}    where push() sends a mapped record ({field} placeholders)
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
import functools
import hashlib
import json
import re
import time
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator
from pydantic.alias_generators import to_camel

from chalicelib.integrations import outbound
from chalicelib.integrations.connector import (
    PULL,
    PUSH,
    Connection,
    ConnectorType,
    Page,
    TestResult,
    Unsupported,
    register,
)
from chalicelib.integrations.outbound import Answer, RemoteError

ATTEMPTS = 3        # tries of one call when the failure is transient
BACKOFF = 0.5       # seconds before the second try; doubled each time
MAX_WAIT = 10.0     # the longest wait between tries (a Retry-After beyond it is capped)
TOKEN_MARGIN = 30   # seconds before expiry an OAuth token is fetched again
_PATH = r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$"   # a dotted path into a JSON object
_HEADER = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True,
                              extra="forbid", str_strip_whitespace=True, defer_build=True)


class PullConfig(_Model):
    path: str = Field(min_length=1, max_length=1000, pattern=r"^/[^\s#?]*$",
                      description="Path under baseUrl, e.g. /v1/items.")
    pagination: Literal["cursor", "page", "none"] = "cursor"
    cursor_param: str = Field("cursor", max_length=100, description="Query parameter "
                              "carrying the cursor (cursor pagination).")
    cursor_field: str = Field("nextCursor", max_length=200, pattern=_PATH, description=(
        "Where the answer gives the next cursor (dotted path); absent or empty: the last "
        "page."))
    page_param: str = Field("page", max_length=100)
    page_size_param: str | None = Field("pageSize", max_length=100)
    page_size: int = Field(100, ge=1, le=1000, description="Page pagination: a page "
                           "with fewer items is the last.")
    first_page: int = Field(1, ge=0, le=1)
    items_field: str = Field("items", max_length=200, pattern=r"^$|" + _PATH, description=(
        "Where the answer holds its records (dotted path); empty: the answer is the "
        "array itself."))
    query: dict[str, str] = Field(default_factory=dict, max_length=20,
                                  description="Fixed query parameters (not secrets: "
                                  "the config is presented).")


class PushConfig(_Model):
    path: str = Field(min_length=1, max_length=1000, pattern=r"^/[^\s#]*$", description=(
        "Path under baseUrl; {field} placeholders take our record's values, e.g. "
        "/v1/items/{sku}."))
    method: Literal["POST", "PUT", "PATCH"] = "POST"


class ScheduleConfig(_Model):
    every_minutes: int = Field(ge=5, le=10080, description=(
        "Minutes between scheduled syncs (5 to 10,080, a week), counted from the last "
        "run's start; a run still going delays the next."))


class RestConfig(_Model):
    base_url: str = Field(max_length=2048, pattern=r"^https?://",
                          description="http(s) URL; every call passes the SSRF guard.")
    resource: str = Field(min_length=1, max_length=50, description=(
        "Our resource the records are synced into: products, customers, inventory."))
    pull: PullConfig | None = None
    mapping: dict[str, Annotated[str, Field(max_length=200, pattern=_PATH)]] = Field(
        min_length=1, max_length=100, description="Our field -> their field (dotted path).")
    natural_key: str | None = Field(None, max_length=100, description=(
        "Our field the upsert matches records on (default: the resource's own: sku, "
        "email)."))
    updated_at_field: str | None = Field(None, max_length=200, pattern=_PATH, description=(
        "Their last-modified time (RFC 3339 or epoch seconds): the newer side wins a "
        "field both changed. Absent: the remote wins."))
    source_of_truth: list[str] = Field(default_factory=list, max_length=100, description=(
        "Our fields this connection owns: the remote's value always wins."))
    push: PushConfig | None = None
    schedule: ScheduleConfig | None = Field(None, description="Scheduled syncs (needs "
                                            "pull); absent: only POST /sync starts one.")

    @field_validator("resource")
    @classmethod
    def _known(cls, value: str) -> str:
        from chalicelib.resources.declaration import DECLARED

        res = DECLARED.get(value)
        if res is None:
            raise ValueError(f"one of {', '.join(DECLARED)}")
        if not (res.unique or res.id_field):
            raise ValueError(f"{value} have no natural key to sync by")
        return value

    @model_validator(mode="after")
    def _fields(self) -> RestConfig:
        from chalicelib.resources.declaration import DECLARED

        res = DECLARED[self.resource]
        ours = _fields_of(self.resource)
        unknown = sorted(set(self.mapping) - ours)
        if unknown:
            raise ValueError(f"mapping names fields {self.resource} do not have: "
                             f"{', '.join(unknown)} (known: {', '.join(sorted(ours))})")
        key = self.key(res)
        if key not in self.mapping:
            raise ValueError(f"mapping must map the natural key {key!r}")
        stray = sorted(set(self.source_of_truth) - set(self.mapping))
        if stray:
            raise ValueError(f"sourceOfTruth names unmapped fields: {', '.join(stray)}")
        if self.schedule is not None and self.pull is None:
            raise ValueError("a schedule needs pull")
        return self

    def key(self, res: Any) -> str:
        if self.natural_key:
            if self.natural_key not in (*res.unique, res.id_field):
                own = res.unique[0] if res.unique else res.id_field
                raise ValueError(f"naturalKey must be {own}")
            return self.natural_key
        return str(res.unique[0] if res.unique else res.id_field)


@functools.lru_cache(maxsize=32)
def _fields_of(resource: str) -> frozenset[str]:
    """A resource's create body fields, by their wire names (a JSON Schema is costly)."""
    from chalicelib.resources.declaration import DECLARED

    schema = DECLARED[resource].create.model_json_schema(by_alias=True)
    return frozenset(schema.get("properties", {}))


class NoAuth(_Model):
    auth: Literal["none"]


class BearerAuth(_Model):
    auth: Literal["bearer"]
    token: str = Field(min_length=1, max_length=4096)


class BasicAuth(_Model):
    auth: Literal["basic"]
    username: str = Field(min_length=1, max_length=200, pattern=r"^[^:]*$")
    password: str = Field(max_length=1000)


class ApiKeyAuth(_Model):
    auth: Literal["apiKey"]
    header: str = Field("X-API-Key", pattern=_HEADER)
    key: str = Field(min_length=1, max_length=4096)

    @field_validator("header")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower() in ("host", "content-length", "content-type", "transfer-encoding"):
            raise ValueError("that header is set by the request itself")
        return value


class OAuth2Auth(_Model):
    auth: Literal["oauth2"]
    token_url: str = Field(max_length=2048, pattern=r"^https?://")
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: str = Field(min_length=1, max_length=2000)
    scope: str | None = Field(None, max_length=1000)
    client_auth: Literal["basic", "body"] = "basic"


class RestCredentials(RootModel[Annotated[
        NoAuth | BearerAuth | BasicAuth | ApiKeyAuth | OAuth2Auth,
        Field(discriminator="auth")]]):
    """How to authenticate to the remote API."""


# -- helpers ---------------------------------------------------------------------

def dig(data: Any, path: str) -> Any:
    """The value at a dotted path of a JSON value; None where it is absent."""
    for part in path.split(".") if path else ():
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


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


def _token_key(connection: Connection) -> str:
    # The credentials' hash: a changed secret never reuses the old one's token.
    creds = json.dumps(connection.credentials, sort_keys=True)
    return f"{connection.id}#{hashlib.sha256(creds.encode()).hexdigest()}"


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

    def resource_of(self, connection: Connection) -> str:
        return self.config(connection).resource

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

    def pull(self, connection: Connection, cursor: str | None) -> Page:
        cfg = self.config(connection)
        pull = cfg.pull
        if pull is None:
            raise Unsupported("This connection has no pull configured.")
        params = dict(pull.query)
        number = int(cursor) if pull.pagination == "page" and cursor else pull.first_page
        if pull.pagination == "cursor" and cursor:
            params[pull.cursor_param] = cursor
        elif pull.pagination == "page":
            params[pull.page_param] = str(number)
            if pull.page_size_param:
                params[pull.page_size_param] = str(pull.page_size)
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
        cfg = self.config(connection)
        out: dict[str, Any] = {}
        for ours, theirs in cfg.mapping.items():
            value = dig(record, theirs)
            if value is not None or _present(record, theirs):
                out[ours] = value
        return out

    def map_out(self, connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ours, theirs in self.config(connection).mapping.items():
            if ours in record:
                _place(out, theirs, record[ours])
        return out

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

    # -- calls ------------------------------------------------------------------------
    def call(self, connection: Connection, method: str, url: str, *, body: bytes | None = None,
             content_type: str | None = None, attempts: int | None = None) -> Answer:
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
            headers.update(self._auth(connection))
            try:
                answer = outbound.request(method, url, headers=headers, body=body)
            except RemoteError as exc:
                attempt += 1
                if not exc.transient or attempt >= tries:
                    raise RemoteError(f"{method} {path}: {exc.message}"
                                      + (f" ({attempt} tries)" if exc.transient else ""),
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
            lifetime = float(data.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise RemoteError(f"the token endpoint answered {answer.status} without an "
                              "access token", transient=False, status=answer.status) from None
        if answer.status >= 400 or not token:
            raise RemoteError(f"the token endpoint answered {answer.status}",
                              transient=False, status=answer.status)
        _TOKENS[key] = (token, time.time() + max(lifetime - TOKEN_MARGIN, 1))
        return token


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
