"""The REST connector's config and credentials, as the catalog presents them
(configSchema, credentialsSchema) and connections are validated by."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator
from pydantic.alias_generators import to_camel

from chalicelib.integrations.push_config import PushEvents

_PATH = r"^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$"   # a dotted path into a JSON object
_HEADER = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"
# A header value carries these as they are: no control characters (no header injection).
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True,
                              extra="forbid", str_strip_whitespace=True, defer_build=True)


class SinceConfig(_Model):
    param: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\[\]-]+$",
                       description="The query parameter taking the time, e.g. updatedSince.")
    format: Literal["iso", "unix", "unix_ms"] = Field("iso", description=(
        "iso: RFC 3339 UTC (2026-01-31T12:00:00Z); unix: epoch seconds; unix_ms: epoch "
        "milliseconds."))
    overlap_seconds: int = Field(300, ge=0, le=86_400, description=(
        "Seconds before the last completed run's start the pull begins again (clock "
        "skew, writes in flight); records re-read unchanged write nothing."))


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
    page_size_param: str | None = Field(None, max_length=100, description=(
        "Query parameter asking for `pageSize` records a page (not sent when `query` "
        "sets it). Page pagination: `pageSize` unless named. Cursor pagination: sent "
        "only when named (e.g. `limit`); without it the remote's own page size must be "
        "within `pageSize`."))
    page_size: int = Field(100, ge=1, le=1000, description="The most records a page may "
                           "hold (a page with more fails the sync); page pagination: a page "
                           "with fewer items is the last.")
    first_page: int = Field(1, ge=0, le=1)
    items_field: str = Field("items", max_length=200, pattern=r"^$|" + _PATH, description=(
        "Where the answer holds its records (dotted path); empty: the answer is the "
        "array itself."))
    query: dict[str, str] = Field(default_factory=dict, max_length=20,
                                  description="Fixed query parameters (not secrets: "
                                  "the config is presented).")
    since: SinceConfig | None = Field(None, description=(
        "Incremental pulls: once a run of this connection has completed, every page "
        "request carries `param` = that run's start minus `overlapSeconds` (our clock), "
        "so only what changed since is pulled; POST /sync {\"full\": true} pulls "
        "everything. Absent: every sync pulls the whole collection."))

    @model_validator(mode="after")
    def _since_param_free(self) -> PullConfig:
        if self.since is None:
            return self
        taken = {*self.query, self.cursor_param if self.pagination == "cursor" else "",
                 self.page_param if self.pagination == "page" else "",
                 (self.page_size_param or ("pageSize" if self.pagination == "page" else ""))
                 if self.pagination != "none" else ""}
        if self.since.param in taken:
            raise ValueError(f"since.param {self.since.param!r} is already a query "
                             "parameter of the pull")
        return self


class PushConfig(_Model):
    path: str = Field(min_length=1, max_length=1000, pattern=r"^/[^\s#]*$", description=(
        "Path under baseUrl; {field} placeholders take our record's values (an event's: "
        "its data's), e.g. /v1/items/{sku}."))
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    events: PushEvents | None = Field(None, description=(
        "Event types sent here as they happen, each as the JSON body a webhook gets "
        "({id, event, timestamp, data}); absent: none."))


class ScheduleConfig(_Model):
    every_minutes: int = Field(ge=5, le=10080, description=(
        "Minutes between scheduled syncs (5 to 10,080, a week), counted from the last "
        "run's start; a run still going delays the next."))


class RestConfig(_Model):
    base_url: str = Field(max_length=2048, pattern=r"^https?://",
                          description="http(s) URL; every call passes the SSRF guard.")
    resource: str | None = Field(None, min_length=1, max_length=50, description=(
        "Our resource the records are synced into: products, customers, inventory. "
        "Required with pull (and with mapping); a push-only connection needs none."))
    pull: PullConfig | None = None
    mapping: dict[str, Annotated[str, Field(max_length=200, pattern=_PATH)]] | None = Field(
        None, min_length=1, max_length=100, description=(
            "Our field -> their field (dotted path). Required with pull (and with "
            "resource); a push-only connection (push, no pull) needs none."))
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
    def _known(cls, value: str | None) -> str | None:
        from chalicelib.resources.declaration import DECLARED

        if value is None:
            return None
        res = DECLARED.get(value)
        if res is None:
            raise ValueError(f"one of {', '.join(DECLARED)}")
        if not (res.unique or res.id_field):
            raise ValueError(f"{value} have no natural key to sync by")
        return value

    @model_validator(mode="after")
    def _fields(self) -> RestConfig:
        from chalicelib.resources.declaration import DECLARED

        if self.schedule is not None and self.pull is None:
            raise ValueError("a schedule needs pull")
        if self.resource is None or self.mapping is None:
            # Only a push-only connection (push, no pull) goes without them: a pull, or
            # a connection with neither, syncs records and needs both.
            if self.pull is not None or self.push is None:
                missing = [n for n, v in (("resource", self.resource),
                                          ("mapping", self.mapping)) if v is None]
                raise ValueError(f"{' and '.join(missing)} required (a connection without "
                                 "pull, with push, needs neither)")
            if self.resource is not None or self.mapping is not None:
                raise ValueError("resource and mapping go together")
            if self.source_of_truth or self.natural_key or self.updated_at_field:
                raise ValueError("sourceOfTruth, naturalKey and updatedAtField need "
                                 "resource and mapping")
            return self
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
    token: str = Field(min_length=1, max_length=4096, pattern=_PRINTABLE)


class BasicAuth(_Model):
    auth: Literal["basic"]
    username: str = Field(min_length=1, max_length=200, pattern=r"^[^:\x00-\x1f\x7f]*$")
    password: str = Field(max_length=1000)


class ApiKeyAuth(_Model):
    auth: Literal["apiKey"]
    header: str = Field("X-API-Key", pattern=_HEADER)
    key: str = Field(min_length=1, max_length=4096, pattern=_PRINTABLE)

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
