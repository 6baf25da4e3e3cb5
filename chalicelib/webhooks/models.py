"""Webhook request models. Field validators check form only; the SSRF guard (which may
resolve DNS) runs in the service."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from pydantic import AfterValidator, AliasChoices, Field, field_validator, model_validator

from chalicelib.http.models import Body, PageQuery

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
MAX_EVENTS = 48  # a webhook and its subscriptions fit one transaction (100 items)
MAX_HEADERS = 20
MAX_HEADER_VALUE = 1024
MAX_RETRIES = 20
MAX_RETRY_DELAY = 86400
MAX_PAYLOAD_FIELDS = 50
DEFAULT_TIMEOUT = 10  # seconds per attempt
MAX_TIMEOUT = 30
# The delivery function's Lambda timeout (.chalice/config.json, lambda_functions.deliver;
# a test keeps them equal): room for a MAX_TIMEOUT attempt, the claim before it and the
# outcome after it. The webhooks queue's visibility timeout is six times this
# (infra/template.py), as AWS advises for SQS event sources.
DELIVERY_FUNCTION_TIMEOUT = 60
DEFAULT_OVERLAP_HOURS = 24
MAX_OVERLAP_HOURS = 168
STATUSES = ("active", "paused", "disabled")

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$")
_EVENT_NAME = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$")
# Headers the platform sets itself, hop-by-hop headers and those that would change how
# the request is framed or routed. Authorization (the receiver's own auth) is allowed.
RESERVED_HEADERS = frozenset({
    "host", "content-length", "content-type", "content-encoding", "transfer-encoding",
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "trailers", "upgrade", "expect", "user-agent",
    "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip",
    "http2-settings", "via", "max-forwards", "x-request-id",
})
RESERVED_PREFIXES = ("webhook-", "x-webhook-", "proxy-", ":")


def check_secret(value: str) -> str:
    """whsec_ + standard base64 of 24..64 random bytes (Standard Webhooks)."""
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with {SECRET_PREFIX}")
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be whsec_ followed by standard base64") from exc
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise ValueError(f"must encode {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return value


def check_events(value: list[str]) -> list[str]:
    """Known catalog types or "*"; "*" alone covers everything. Sorted, no repeats."""
    from chalicelib.events.catalog import CATALOG

    unknown = [e for e in value if e != "*" and e not in CATALOG]
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(sorted(set(unknown)))}; "
                         "see GET /webhooks/events")
    return ["*"] if "*" in value else sorted(set(value))


def check_headers(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    out: dict[str, str] = {}
    for name, val in value.items():
        lower = name.lower()
        if not _TOKEN.match(name):
            raise ValueError(f"{name!r} is not a valid header name")
        if lower in RESERVED_HEADERS or lower.startswith(RESERVED_PREFIXES):
            raise ValueError(f"{name!r} is set by Gatehouse and cannot be overridden")
        if lower in seen:
            raise ValueError(f"{name!r} is given twice")
        if len(val) > MAX_HEADER_VALUE or any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F
                                              for c in val):
            raise ValueError(f"the value of {name!r} is too long or has control characters")
        seen.add(lower)
        out[name] = val
    return out


def check_payload_fields(value: list[str]) -> list[str]:
    bad = [f for f in value if not _FIELD_PATH.match(f)]
    if bad:
        raise ValueError(f"not a dotted field path: {', '.join(bad[:5])}")
    return list(dict.fromkeys(value))


EventName = Annotated[str, Field(min_length=1, max_length=100, pattern=_EVENT_NAME.pattern)]
EventList = Annotated[list[EventName], Field(min_length=1, max_length=MAX_EVENTS),
                      AfterValidator(check_events)]
Secret = Annotated[str, Field(min_length=38, max_length=100,
                              description="whsec_ + base64 of 24..64 random bytes."),
                   AfterValidator(check_secret)]
Headers = Annotated[dict[str, str], Field(description=(
    "Custom headers sent with every delivery (e.g. Authorization for the receiver's own "
    f"auth); at most {MAX_HEADERS}; stored encrypted, shown redacted.")),
    AfterValidator(check_headers)]
RetrySchedule = Annotated[
    list[Annotated[int, Field(ge=1, le=MAX_RETRY_DELAY)]],
    Field(min_length=1, max_length=MAX_RETRIES,
          description="Seconds before each retry; null uses the platform default.")]
PayloadFields = Annotated[list[str], Field(min_length=1, max_length=MAX_PAYLOAD_FIELDS,
                                           description="Dotted paths of `data` to keep; "
                                                       "null sends all of it."),
                          AfterValidator(check_payload_fields)]
Url = Annotated[str, Field(min_length=1, max_length=2048,
                           json_schema_extra={"format": "uri"},
                           description="http(s) URL; https in deployed stages.")]


class CreateWebhook(Body):
    url: Url
    events: EventList
    description: str | None = Field(None, max_length=500)
    name: str | None = Field(None, min_length=1, max_length=100, description=(
        "A label (one of the briefs sends it): kept as the description when none is "
        "given."))
    secret: Secret | None = Field(None, description="Generated if not given.")
    headers: Headers | None = None
    retry_count: int | None = Field(None, ge=0, le=MAX_RETRIES,
                                    description="Attempts after the first; default from the "
                                                "schedule.")
    retry_schedule: RetrySchedule | None = None
    timeout_seconds: int = Field(DEFAULT_TIMEOUT, ge=1, le=MAX_TIMEOUT, description=(
        "Seconds per attempt; less when the delivery run is about to end (`timeout` is "
        "accepted too)."), validation_alias=AliasChoices("timeoutSeconds", "timeout_seconds",
                                                           "timeout"))
    payload_fields: PayloadFields | None = None
    active: bool = True

    @model_validator(mode="after")
    def _name_as_description(self) -> CreateWebhook:
        if self.name and not self.description:
            self.description = self.name
        return self


class UpdateWebhook(Body):
    """Every field optional; the given ones change. `null` resets description, headers,
    retryCount, retrySchedule and payloadFields."""

    url: Url | None = None
    events: EventList | None = None
    description: str | None = Field(None, max_length=500)
    headers: Headers | None = None
    retry_count: int | None = Field(None, ge=0, le=MAX_RETRIES)
    retry_schedule: RetrySchedule | None = None
    timeout_seconds: int | None = Field(None, ge=1, le=MAX_TIMEOUT, validation_alias=AliasChoices(
        "timeoutSeconds", "timeout_seconds", "timeout"))
    payload_fields: PayloadFields | None = None
    active: bool | None = Field(None, description="false pauses; true resumes a paused or "
                                                  "disabled webhook.")


class RotateSecret(Body):
    overlap_hours: int = Field(DEFAULT_OVERLAP_HOURS, ge=0, le=MAX_OVERLAP_HOURS,
                               description="How long the previous secret still signs "
                                           "(both signatures are sent).")
    secret: Secret | None = Field(None, description="The new secret; generated if not given.")


class ListWebhooks(PageQuery):
    status: str | None = Field(None, max_length=50,
                               pattern=r"^(active|paused|disabled)(,(active|paused|disabled))*$",
                               description="Comma-separated: active, paused, disabled.")
    event: str | None = Field(None, max_length=100, description="Only webhooks subscribed "
                                                                "to this event type.")

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and any(s not in STATUSES for s in value.split(",")):
            raise ValueError("unknown status")
        return value
