"""Scopes and the built-in roles (named sets of scopes)."""

from __future__ import annotations

from collections.abc import Iterable

RESOURCE_NAMES = ("orders", "products", "customers", "inventory", "tickets")

SCOPES: dict[str, str] = {
    "admin": "Everything, across all owners.",
    **{f"{r}:read": f"Read {r}." for r in RESOURCE_NAMES},
    **{f"{r}:write": f"Create and change {r}." for r in RESOURCE_NAMES},
    "webhooks:manage": "Manage own webhooks.",
    "keys:manage": "Manage own API keys.",
    "clients:manage": "Manage own OAuth clients.",
    "exports:run": "Run and download exports.",
    "imports:run": "Run imports.",
    "integrations:manage": "Manage own integrations.",
    "users:read": "Read own user profile.",
    "users:manage": "Manage users, roles and role assignments.",
    "logs:read": "Read own access logs and audit logs.",
    "monitoring:read": "Read monitoring and health details.",
    "tokens:introspect": "Introspect any token (RFC 7662); without it a caller learns only "
                         "about its own client's tokens.",
}

_READS = {f"{r}:read" for r in RESOURCE_NAMES}
_WRITES = {f"{r}:write" for r in RESOURCE_NAMES}

BUILTIN_ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "integrator": frozenset(_READS | _WRITES | {
        "webhooks:manage", "keys:manage", "clients:manage", "exports:run", "imports:run",
        "integrations:manage", "users:read", "logs:read"}),
    "analyst": frozenset(_READS | {"exports:run", "users:read", "logs:read",
                                   "monitoring:read"}),
    "viewer": frozenset(_READS | {"users:read"}),
}


# A scope that implies others (managing users includes reading them).
IMPLIES: dict[str, frozenset[str]] = {"users:manage": frozenset({"users:read"})}

# Never held by a sandbox principal, whatever its scopes say: a sandbox reaches no live
# data and no one's account.
SANDBOX_WITHHELD = frozenset({"admin", "users:manage", "tokens:introspect"})


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """`admin` implies every scope; `IMPLIES` adds what a scope includes."""
    given = frozenset(scopes)
    if "admin" in given:
        return frozenset(SCOPES)
    implied = [IMPLIES[s] for s in given if s in IMPLIES]
    return given.union(*implied) if implied else given


def sandboxed(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes a sandbox principal holds of these."""
    return expand(scopes) - SANDBOX_WITHHELD


def allows(granted: Iterable[str], required: Iterable[str]) -> bool:
    have = expand(granted)
    return all(s in have for s in required)


def within(granted: Iterable[str], limit: Iterable[str]) -> frozenset[str]:
    """What `granted` amounts to under `limit` (a credential under its owner's or its
    client's current scopes): `admin` survives only where both hold it."""
    given, bound = frozenset(granted), frozenset(limit)
    if "admin" in bound:
        return given
    return expand(given) & expand(bound)


def covers(holder: Iterable[str], target: Iterable[str]) -> bool:
    """The holder has every scope the target has (`admin` only under `admin`)."""
    return allows(holder, expand(target))
