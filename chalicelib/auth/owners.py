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


# -- what keys and clients carry of their owner ----------------------------------------

RIGHTS_REV = "rightsRev"  # on the user item: bumped whenever its scopes or status change
_DELEGATED = ("APIKEY", "CLIENT")


def owner_state(owner_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The owner's current rights as a new key or client carries them, and the
    transaction op that makes its creation fail if the owner changed meanwhile (None for
    a credential without an owner user, which then has no rights)."""
    user = store.get(f"USER#{owner_id}", "USER", consistent=True) if owner_id else None
    scopes = user_scopes(user)
    fields = {"ownerScopes": sorted(scopes), "ownerActive": bool(scopes)}
    if user is None:
        return fields, None
    check = {"ConditionCheck": {
        "Key": {"PK": f"USER#{owner_id}", "SK": "USER"},
        "ConditionExpression": "attribute_exists(PK) AND "
                               "(attribute_not_exists(#rr) OR #rr = :rr)",
        "ExpressionAttributeNames": {"#rr": RIGHTS_REV},
        "ExpressionAttributeValues": {":rr": int(user.get(RIGHTS_REV, 0))}}}
    return fields, check


def propagate(owner_id: str, user: dict[str, Any] | None, *, end_sessions: bool) -> int:
    """Writes the owner's current rights onto each of its keys and clients (GSI1 by
    owner), so the request path, which reads only the credential's own item, sees them.
    `end_sessions` also ends the clients' access tokens (deactivation, deletion). Runs
    before the owner change answers; answers how many credentials it wrote."""
    scopes = user_scopes(user)
    changes = {"ownerScopes": sorted(scopes), "ownerActive": bool(scopes)}
    written = 0
    for kind in _DELEGATED:
        for item in store.query_all(f"OWNER#{owner_id}#{kind}", index="GSI1"):
            extra = ""
            if end_sessions and kind == "CLIENT":
                extra = ", #ep = if_not_exists(#ep, :zero) + :one"
            req = store.update_request(item["PK"], item["SK"], changes,
                                       condition="attribute_exists(PK)")
            if extra:
                req["UpdateExpression"] += extra
                req["ExpressionAttributeNames"]["#ep"] = "sessionEpoch"
                req["ExpressionAttributeValues"].update({":zero": 0, ":one": 1})
            _update_quietly(req)
            written += 1
    return written


def _update_quietly(request: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    try:
        store.table().update_item(**request)
    except ClientError as exc:
        if not store.is_condition_failure(exc):  # deleted meanwhile: nothing to carry
            raise


def users_holding(role: str) -> list[dict[str, Any]]:
    """Users that hold a role (the user listing, filtered: bounded by the number of
    users, read only when a custom role changes)."""
    return [u for u in store.query_all("USER", index="GSI2", forward=True)
            if role in (u.get("roles") or [])]
