"""What a user's keys and clients carry of it, and keeping it so.

Keys and clients carry a copy of their owner's rights (`ownerScopes`, `ownerActive`):
written when they are made (counted on the owner, on condition that its rights are as
read) and rewritten whenever those rights change (`propagate`, before the change
answers), so authenticating them needs no read of the owner.

Keys and clients sit above users (each reads its owner), so each kind registers here
how to find an owner's credentials of that kind; a rights change refuses to run until
every kind has (none may keep rights its owner lost).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.auth.sessions.subjects import SESSION_EPOCH
from chalicelib.auth.users import repo
from chalicelib.core.errors import Conflict
from chalicelib.core.scopes import within
from chalicelib.store import table as store

MAX_DELEGATED = 1000  # what one owner change may have to rewrite, at most
DELEGATED_KINDS = ("api_key", "client")


@dataclass(frozen=True)
class DelegatedKind:
    kind: str
    owned_by: Callable[[str], list[dict[str, Any]]]  # an owner's, by the owner index
    holds_sessions: bool = False  # its tokens end when its owner's sessions do


_KINDS: dict[str, DelegatedKind] = {}


def register(kind: DelegatedKind) -> DelegatedKind:
    _KINDS[kind.kind] = kind
    return kind


def require_kinds() -> list[DelegatedKind]:
    """Every kind of credential, before a rights change is written."""
    missing = [k for k in DELEGATED_KINDS if k not in _KINDS]
    if missing:
        raise RuntimeError(f"credential kinds not registered: {', '.join(missing)}")
    return [_KINDS[k] for k in DELEGATED_KINDS]


def carried(user: dict[str, Any] | None) -> dict[str, Any]:
    """What a key or client carries of its owner: its scopes as held (`admin` not
    expanded: the request path reads this attribute on every call) and whether it may act
    at all."""
    scopes = repo.user_scopes(user)
    held = ["admin"] if "admin" in scopes else sorted(scopes)
    return {"ownerScopes": held, "ownerActive": bool(scopes)}


def delegated_scopes(item: dict[str, Any]) -> frozenset[str]:
    """What a key or client may do now: its scopes within the owner's it carries (none
    while its owner is inactive or gone)."""
    if item.get("ownerActive") is not True:
        return frozenset()
    return within(item.get("scopes") or [], item.get("ownerScopes") or [])


# -- writing a key or client ------------------------------------------------------------

def owner_state(owner_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The owner's current rights as a new key or client carries them, and the
    transaction op that counts the new credential on the owner, failing if the owner
    changed meanwhile or holds MAX_DELEGATED already (None for a credential without an
    owner user, which then has no rights)."""
    user = repo.get(owner_id, consistent=True) if owner_id else None
    fields = carried(user)
    if user is None:
        return fields, None
    return fields, repo.count_op(owner_id, int(user.get(repo.RIGHTS_REV, 0)), MAX_DELEGATED)


def refused_count(owner_id: str) -> Exception:
    """Why counting a new credential on its owner failed, as the error to answer."""
    user = repo.get(owner_id, consistent=True)
    if user is not None and int(user.get(repo.HANDED_OUT, 0)) >= MAX_DELEGATED:
        return Conflict(f"An owner may hold at most {MAX_DELEGATED} API keys and OAuth "
                        "clients; delete clients it no longer needs.")
    return Conflict("The owner's rights changed meanwhile; try again.")


def create_credential(item: dict[str, Any], count_op: dict[str, Any] | None,
                      audit: dict[str, Any], exists: str) -> None:
    """A new key or client, its audit entry and (for an owner user) its count on the
    owner, conditional on the owner's rights as read, in one transaction."""
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


# -- an owner's change reaching them ----------------------------------------------------

def propagate(owner_id: str, user: dict[str, Any] | None, *, end_sessions: bool,
              expected: int | None = None) -> int:
    """Writes the owner's current rights onto each of its keys and clients (at most
    MAX_DELEGATED), so the request path, which reads only the credential's own item,
    sees them. `end_sessions` also ends the clients' access tokens (deactivation,
    deletion). Runs before the owner change answers, eight writes at a time; answers how
    many credentials it wrote. `expected`: how many the owner counted (for a deleted
    owner, whose item can no longer be read for it)."""
    from concurrent.futures import ThreadPoolExecutor

    changes = carried(user)
    requests = []
    for kind, item in _handed_out(owner_id, user, expected):
        req = store.update_request(item["PK"], item["SK"], changes,
                                   condition="attribute_exists(PK)")
        if end_sessions and kind.holds_sessions:
            req["UpdateExpression"] += ", #ep = if_not_exists(#ep, :zero) + :one"
            req["ExpressionAttributeNames"]["#ep"] = SESSION_EPOCH
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
                expected: int | None = None) -> list[tuple[DelegatedKind, dict[str, Any]]]:
    """The owner's keys and clients. The owner index is eventually consistent: one created
    just before the owner's change (counted on the owner's item in its own transaction)
    may not show yet, so the listing is read again, briefly, until it holds as many as
    the owner's item counts (or `expected`)."""
    import time

    kinds = require_kinds()
    if expected is None:
        expected = 0
        if user is not None:
            fresh = repo.get(owner_id, consistent=True)
            expected = int((fresh or user).get(repo.HANDED_OUT, 0))
    deadline = time.monotonic() + 3.0
    while True:
        found = [(kind, item) for kind in kinds for item in kind.owned_by(owner_id)]
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
