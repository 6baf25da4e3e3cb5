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


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """`admin` implies every scope."""
    given = frozenset(scopes)
    return frozenset(SCOPES) if "admin" in given else given


def allows(granted: Iterable[str], required: Iterable[str]) -> bool:
    have = expand(granted)
    return all(s in have for s in required)


def narrow(requested: Iterable[str], allowed: Iterable[str]) -> frozenset[str]:
    """Scopes a principal may delegate: only those it has itself."""
    have = expand(allowed)
    return frozenset(s for s in requested if s in have)
