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

from chalicelib.core.scopes import BUILTIN_ROLES, expand, within
from chalicelib.store import table as store


def role_scopes(names: Iterable[str]) -> frozenset[str]:
    """The scopes of these roles (built-in or custom; an unknown role gives none)."""
    names = list(names)  # read twice below
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


def delegated_scopes(item: dict[str, Any]) -> frozenset[str]:
    """What a key or client may do now: its scopes within the owner's it carries (none
    while its owner is inactive or gone)."""
    if item.get("ownerActive") is not True:
        return frozenset()
    return within(item.get("scopes") or [], item.get("ownerScopes") or [])


def carried(user: dict[str, Any] | None) -> dict[str, Any]:
    """What a key or client carries of its owner: its scopes as held (`admin` not
    expanded: the request path reads this attribute on every call) and whether it may act
    at all."""
    scopes = user_scopes(user)
    held = ["admin"] if "admin" in scopes else sorted(scopes)
    return {"ownerScopes": held, "ownerActive": bool(scopes)}


def user_key(owner_id: str) -> tuple[str, str]:
    """The owner's item, for callers that read it in a BatchGetItem of their own."""
    return f"USER#{owner_id}", "USER"


def scopes_in(found: dict[tuple[str, str], dict[str, Any]],
              owner_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each owner's current scopes from items read (consistently) by the caller."""
    return {o: user_scopes(found.get(user_key(o))) for o in dict.fromkeys(owner_ids) if o}


def current_scopes(owner_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each owner's current scopes in one BatchGetItem; a deleted or inactive owner (or
    one that is not a user) has none."""
    wanted = [o for o in dict.fromkeys(owner_ids) if o]
    return scopes_in(store.batch_get([user_key(o) for o in wanted], consistent=True), wanted)


# -- what keys and clients carry of their owner ----------------------------------------

RIGHTS_REV = "rightsRev"  # on the user item: bumped whenever its scopes or status change
HANDED_OUT = "delegatedCount"  # on the user item: keys and clients in its owner index
MAX_DELEGATED = 1000  # what one owner change may have to rewrite, at most
_DELEGATED = ("APIKEY", "CLIENT")


def owner_state(owner_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The owner's current rights as a new key or client carries them, and the
    transaction op that counts the new credential on the owner, failing if the owner
    changed meanwhile or holds MAX_DELEGATED already (None for a credential without an
    owner user, which then has no rights)."""
    user = store.get(*user_key(owner_id), consistent=True) if owner_id else None
    fields = carried(user)
    if user is None:
        return fields, None
    pk, sk = user_key(owner_id)
    count = {"Update": {
        "Key": {"PK": pk, "SK": sk},
        "UpdateExpression": "ADD #dc :one",
        "ConditionExpression": "attribute_exists(PK) AND "
                               "(attribute_not_exists(#rr) OR #rr = :rr) AND "
                               "(attribute_not_exists(#dc) OR #dc < :max)",
        "ExpressionAttributeNames": {"#rr": RIGHTS_REV, "#dc": HANDED_OUT},
        "ExpressionAttributeValues": {":rr": int(user.get(RIGHTS_REV, 0)), ":one": 1,
                                      ":max": MAX_DELEGATED}}}
    return fields, count


def refused_count(owner_id: str) -> Exception:
    """Why counting a new credential on its owner failed, as the error to answer."""
    from chalicelib.core.errors import Conflict

    user = store.get(*user_key(owner_id), consistent=True)
    if user is not None and int(user.get(HANDED_OUT, 0)) >= MAX_DELEGATED:
        return Conflict(f"An owner may hold at most {MAX_DELEGATED} API keys and OAuth "
                        "clients; delete clients it no longer needs.")
    return Conflict("The owner's rights changed meanwhile; try again.")


def uncount_op(owner_id: str) -> dict[str, Any]:
    """A deleted client leaves its owner's index."""
    pk, sk = user_key(owner_id)
    return {"Update": {"Key": {"PK": pk, "SK": sk},
                       "UpdateExpression": "ADD #dc :minus",
                       "ConditionExpression": "attribute_exists(PK)",
                       "ExpressionAttributeNames": {"#dc": HANDED_OUT},
                       "ExpressionAttributeValues": {":minus": -1}}}


def propagate(owner_id: str, user: dict[str, Any] | None, *, end_sessions: bool,
              expected: int | None = None) -> int:
    """Writes the owner's current rights onto each of its keys and clients (GSI1 by
    owner, at most MAX_DELEGATED), so the request path, which reads only the credential's
    own item, sees them. `end_sessions` also ends the clients' access tokens
    (deactivation, deletion). Runs before the owner change answers, eight writes at a
    time; answers how many credentials it wrote. `expected`: how many the owner counted
    (for a deleted owner, whose item can no longer be read for it)."""
    from concurrent.futures import ThreadPoolExecutor

    changes = carried(user)
    requests = []
    for item in _handed_out(owner_id, user, expected):
        req = store.update_request(item["PK"], item["SK"], changes,
                                   condition="attribute_exists(PK)")
        if end_sessions and item["SK"] == "CLIENT":
            req["UpdateExpression"] += ", #ep = if_not_exists(#ep, :zero) + :one"
            req["ExpressionAttributeNames"]["#ep"] = "sessionEpoch"
            req["ExpressionAttributeValues"].update({":zero": 0, ":one": 1})
        requests.append(req)
    if len(requests) <= 1:
        for req in requests:
            _update_quietly(req)
    else:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(_update_quietly, requests))
    return len(requests)


def _handed_out(owner_id: str, user: dict[str, Any] | None,
                expected: int | None = None) -> list[dict[str, Any]]:
    """The owner's keys and clients. The owner index is eventually consistent: one created
    just before the owner's change (counted on the owner's item in its own transaction)
    may not show yet, so the listing is read again, briefly, until it holds as many as
    the owner's item counts (or `expected`)."""
    import time

    if expected is None:
        expected = 0
        if user is not None:
            fresh = store.get(*user_key(owner_id), consistent=True)
            expected = int((fresh or user).get(HANDED_OUT, 0))
    deadline = time.monotonic() + 3.0
    while True:
        found = [item for kind in _DELEGATED
                 for item in store.query_all(f"OWNER#{owner_id}#{kind}", index="GSI1")]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


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


# -- writing a key or client with its audit entry --------------------------------------

def create_credential(item: dict[str, Any], count_op: dict[str, Any] | None,
                      audit: dict[str, Any], exists: str) -> None:
    """A new key or client, its audit entry and (for an owner user) its count on the
    owner, conditional on the owner's rights as read, in one transaction."""
    from chalicelib.core.errors import Conflict

    ops: list[dict[str, Any]] = [
        {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Put": {"Item": audit}}]
    if count_op is not None:
        ops.append(count_op)
    try:
        store.transact(ops)
    except store.TransactionConflict as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
            raise Conflict(exists) from exc
        raise refused_count(str(item["owner"])) from exc


def update_credential(item: dict[str, Any], changes: dict[str, Any], audit: dict[str, Any], *,
                      remove: tuple[str, ...] = (), condition: str = "attribute_exists(PK)",
                      values: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Changes a key or client and writes its audit entry in one transaction; answers
    the item as written, or None when the condition failed (gone or changed meanwhile)."""
    from chalicelib.core import clock

    changes = {**changes, "updatedAt": clock.iso()}
    update = store.update_request(str(item["PK"]), str(item["SK"]), changes, remove=remove,
                                  condition=condition, values=values)
    try:
        store.transact([{"Update": update}, {"Put": {"Item": audit}}])
    except store.TransactionConflict:
        return None
    return {k: v for k, v in {**item, **changes}.items() if k not in remove}
