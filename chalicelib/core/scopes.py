"""Scopes and the built-in roles (named sets of scopes).

Each business resource's two scopes (`<name>:read`, `<name>:write`) come from its
declaration: `resources/declaration.Resource` calls `register_resource`, and SCOPES and
BUILTIN_ROLES are updated in place (callers that imported them see the change). Every
declaration runs when its module is imported, before any request: app.py imports every
routes module. Whatever reads scopes at import time must therefore read them late (the
route registry checks a route's scopes as it is declared, after its resource).
"""

from __future__ import annotations

from collections.abc import Iterable

# The platform's own scopes; the resources' are added as they are declared.
PLATFORM_SCOPES: dict[str, str] = {
    "webhooks:manage": "Manage own webhooks.",
    "keys:manage": "Manage own API keys.",
    "clients:manage": "Manage own OAuth clients.",
    "exports:run": "Run, follow and download own exports (of what the caller may read).",
    "imports:run": "Run and follow own imports (into what the caller may write).",
    "integrations:manage": "Configure own integration connectors and run their syncs "
                           "(into what the caller may write).",
    "notifications:send": "Send email and SMS notifications through the configured "
                          "channels.",
    "notifications:read": "Read and mark own in-app notifications.",
    "users:read": "Read own user profile.",
    "users:manage": "Manage users, roles and role assignments.",
    "logs:read": "Read own access logs and audit logs.",
    "monitoring:read": "Read monitoring and health details.",
    "tokens:introspect": "Introspect any token (RFC 7662); without it a caller learns only "
                         "about its own client's tokens.",
}

# Each built-in role: whether it reads and writes every resource, and its platform scopes
# (admin: every scope, whatever is declared).
_ROLE_RULES: dict[str, tuple[bool, bool, frozenset[str]]] = {
    "integrator": (True, True, frozenset({
        "webhooks:manage", "keys:manage", "clients:manage", "exports:run", "imports:run",
        "integrations:manage", "notifications:send", "notifications:read", "users:read",
        "logs:read"})),
    "analyst": (True, False, frozenset({"exports:run", "users:read", "logs:read",
                                        "monitoring:read", "notifications:read"})),
    "viewer": (True, False, frozenset({"users:read", "notifications:read"})),
}

ROLE_DESCRIPTIONS: dict[str, str] = {
    "admin": "Everything, across all owners.",
    "integrator": "Own keys, clients, webhooks, exports, imports and integrations; sends "
                  "notifications; reads and writes business resources.",
    "analyst": "Reads and exports.",
    "viewer": "Reads.",
}

RESOURCE_NAMES: list[str] = []  # in declaration order; filled by register_resource
SCOPES: dict[str, str] = {}
BUILTIN_ROLES: dict[str, frozenset[str]] = {}


def register_resource(name: str) -> None:
    """A business resource was declared: its read and write scopes exist from now on,
    in the roles that read or write every resource. Repeating a name changes nothing."""
    if name in RESOURCE_NAMES:
        return
    if not name or ":" in name or name != name.strip():
        raise ValueError(f"{name!r} cannot prefix a scope")
    RESOURCE_NAMES.append(name)
    _derive()


def _derive() -> None:
    reads = {f"{r}:read" for r in RESOURCE_NAMES}
    writes = {f"{r}:write" for r in RESOURCE_NAMES}
    derived = {"admin": "Everything, across all owners.",
               **{f"{r}:read": f"Read {r}." for r in RESOURCE_NAMES},
               **{f"{r}:write": f"Create and change {r}." for r in RESOURCE_NAMES},
               **PLATFORM_SCOPES}
    SCOPES.clear()  # rebuilt in place, so the order stays admin, reads, writes, platform
    SCOPES.update(derived)
    BUILTIN_ROLES["admin"] = frozenset(SCOPES)
    for role, (read, write, platform) in _ROLE_RULES.items():
        BUILTIN_ROLES[role] = frozenset((reads if read else set()) | (writes if write else set())
                                        | platform)


_derive()


# A scope that implies others (managing users includes reading them).
IMPLIES: dict[str, frozenset[str]] = {"users:manage": frozenset({"users:read"})}

# Never held by a sandbox principal, whatever its scopes say: a sandbox reaches no live
# data and no one's account. The access and audit logs record live requests and changes
# (their bodies' fields included), so reading them is live data too.
SANDBOX_WITHHELD = frozenset({"admin", "users:manage", "tokens:introspect", "logs:read"})


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
