"""API key request models."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from pydantic import AwareDatetime, Field, field_validator

from chalicelib.auth.fields import IpOrCidr, ScopeList
from chalicelib.auth.oauth.models import NewCredential, Tier
from chalicelib.core import clock
from chalicelib.http.models import Body, PageQuery, Query

MIN_LIFETIME_SECONDS = 60
MAX_LIFETIME_DAYS = 3 * 365
MAX_GRACE_SECONDS = 7 * 86400
MAX_ALLOWLIST = 50
STATUSES = ("active", "revoked", "expired")


def check_allowlist(value: list[str]) -> list[str]:
    """IPs or CIDRs (v4 or v6); answered in canonical network form (1.2.3.4 -> 1.2.3.4/32)."""
    out: list[str] = []
    for entry in value:
        try:
            net = ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError as exc:
            raise ValueError(f"not an IP address or CIDR: {entry!r}") from exc
        if str(net) not in out:
            out.append(str(net))
    return out


def check_expiry(value: datetime) -> datetime:
    at = value.timestamp()
    now = clock.now()
    if at < now + MIN_LIFETIME_SECONDS:
        raise ValueError(f"must be at least {MIN_LIFETIME_SECONDS} seconds in the future")
    if at > now + MAX_LIFETIME_DAYS * 86400:
        raise ValueError(f"must be within {MAX_LIFETIME_DAYS} days")
    return value


class CreateApiKey(NewCredential):
    expires_at: AwareDatetime | None = Field(
        None, description="RFC 3339; default one year from now, at most three years.")
    require_signature: bool = Field(False, description="Require HMAC-signed requests.")
    ip_allowlist: list[IpOrCidr] = Field(default_factory=list, max_length=MAX_ALLOWLIST,
                                    description="IP addresses or CIDRs; empty allows any.")
    sandbox: bool | None = Field(
        None, description="A gate_test_ key that sees sandbox data (default: as the caller).")

    _allow = field_validator("ip_allowlist")(check_allowlist)

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: datetime | None) -> datetime | None:
        return None if value is None else check_expiry(value)


class UpdateApiKey(Body):
    name: str | None = Field(None, min_length=1, max_length=100)
    scopes: ScopeList | None = None
    tier: Tier | None = None
    rate_limit: int | None = Field(None, ge=1, le=1_000_000,
                                   description="Requests per hour; null returns to the tier's.")
    expires_at: AwareDatetime | None = None
    require_signature: bool | None = None
    ip_allowlist: list[IpOrCidr] | None = Field(None, max_length=MAX_ALLOWLIST)

    @field_validator("ip_allowlist")
    @classmethod
    def _allow(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_allowlist(value)

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, value: datetime | None) -> datetime | None:
        return None if value is None else check_expiry(value)


class RotateApiKey(Body):
    grace_period_seconds: int = Field(
        0, ge=0, le=MAX_GRACE_SECONDS,
        description="How long the old key keeps working (0 = it stops at once; max 7 days).")


class ListApiKeys(PageQuery):
    status: str | None = Field(None, max_length=50,
                               pattern=r"^(active|revoked|expired)(,(active|revoked|expired))*$",
                               description="Comma-separated: active, revoked, expired.")

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bad = [s for s in value.split(",") if s.strip() not in STATUSES]
        if bad:
            raise ValueError(f"unknown status(es): {', '.join(bad)}")
        return value


class UsageQuery(Query):
    days: int = Field(30, ge=1, le=365, description="Days back, today included.")
