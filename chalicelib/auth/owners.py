"""What an owner (a user) may do now: the one source every delegated credential is
measured against.

A user item carries `scopes`, the expanded scopes of its roles, rewritten whenever its
roles or one of its custom roles change. Keys and clients carry a copy of their owner's
(`ownerScopes`, `ownerActive`), propagated when the owner changes, so authenticating them
needs no read of the owner. Fan-out and other off-request paths read owners here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.auth.scopes import BUILTIN_ROLES, expand
from chalicelib.store import table as store


def role_scopes(names: Iterable[str]) -> frozenset[str]:
    """The scopes of these roles (built-in or custom; an unknown role gives none)."""
    scopes: set[str] = set()
    custom = [n for n in names if n not in BUILTIN_ROLES]
    for name in names:
        if name in BUILTIN_ROLES:
            scopes |= BUILTIN_ROLES[name]
    if custom:
        found = store.batch_get([(f"ROLE#{n}", "ROLE") for n in custom], consistent=True)
        for item in found.values():
            scopes |= set(item.get("scopes", []))
    return frozenset(scopes)


def user_scopes(user: dict[str, Any] | None) -> frozenset[str]:
    """A user item's current scopes, expanded (`admin` implies all); none when the user
    is gone or inactive."""
    if not user or not user.get("active", True):
        return frozenset()
    held = user.get("scopes")
    if held is None:  # an item written before scopes were kept on it
        held = role_scopes(list(user.get("roles", [])))
    return expand(held)


def current_scopes(owner_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each owner's current scopes in one BatchGetItem; a deleted or inactive owner (or
    one that is not a user) has none."""
    wanted = [o for o in dict.fromkeys(owner_ids) if o]
    found = store.batch_get([(f"USER#{o}", "USER") for o in wanted], consistent=True)
    return {o: user_scopes(found.get((f"USER#{o}", "USER"))) for o in wanted}
