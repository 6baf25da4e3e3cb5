"""DynamoDB items of users and custom roles.

  USER#<id> / USER          the user: its roles and the scopes they expand to (`scopes`,
                            rewritten whenever its roles or one of its custom roles
                            change), rightsRev (bumped with every change of its scopes or
                            status) and delegatedCount (its keys and clients, see
                            rights.py); also its rate-limit counters (auth/limiter.py),
                            session epoch and revocation marks (sessions/subjects.py).
                            GSI2 = USER / <lower username> for the admin listing
  USERNAME#<lower name> / USERNAME   claims a username (created with the user in one
                            transaction, so two sign-ups cannot share a name)
  ROLE#<name> / ROLE        a custom role; GSI2 = ROLE / <name>
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.auth.sessions import subjects
from chalicelib.auth.sessions.subjects import SESSION_EPOCH, epoch_condition
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.scopes import BUILTIN_ROLES, expand, within
from chalicelib.events import audit as audit_log
from chalicelib.store import table as store
from chalicelib.store.optimistic import LostRace

RIGHTS_REV = "rightsRev"
HANDED_OUT = "delegatedCount"


def user_key(user_id: str) -> tuple[str, str]:
    return f"USER#{user_id}", "USER"


def _name_key(username: str) -> tuple[str, str]:
    return f"USERNAME#{username.lower()}", "USERNAME"


def _role_key(name: str) -> tuple[str, str]:
    return f"ROLE#{name}", "ROLE"


# -- users ----------------------------------------------------------------------------

def get(user_id: str, consistent: bool = False) -> dict[str, Any] | None:
    return store.get(*user_key(user_id), consistent=consistent)


def by_name(username: str) -> dict[str, Any] | None:
    claim = store.get(*_name_key(username))
    return get(claim["userId"]) if claim else None


def create(user: dict[str, Any], audit: dict[str, Any]) -> dict[str, Any]:
    """The user (its attributes, `userId` and `username` among them) and its username
    claim, with the audit entry, in one transaction; answers the item."""
    user_id, username = str(user["userId"]), str(user["username"])
    pk, sk = user_key(user_id)
    name_pk, name_sk = _name_key(username)
    item = {"PK": pk, "SK": sk, "GSI2PK": "USER", "GSI2SK": username.lower(), **user}
    try:
        store.transact([
            {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Put": {"Item": {"PK": name_pk, "SK": name_sk, "userId": user_id},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            audit_log.put_op(audit)])
    except store.TransactionConflict as exc:
        raise Conflict("This username is taken.") from exc
    return item


def update(user: dict[str, Any], changes: dict[str, Any],
           audit: dict[str, Any] | None = None) -> None:
    """Writes the changes (and the audit entry, in the same transaction) on condition
    that the user's session epoch and rights revision are as read in `user`. LostRace
    when either moved meanwhile, NotFound when the user is gone."""
    key = user_key(str(user["userId"]))
    seen_ep, seen_rev = int(user.get(SESSION_EPOCH, 0)), int(user.get(RIGHTS_REV, 0))
    cond = f"attribute_exists(PK) AND {epoch_condition(seen_ep)}"
    cond += " AND (attribute_not_exists(#rr) OR #rr = :rr)" if seen_rev == 0 else \
        " AND #rr = :rr"
    ops: list[dict[str, Any]] = [{"Update": store.update_request(
        *key, changes, condition=cond, names={"#ep": SESSION_EPOCH, "#rr": RIGHTS_REV},
        values={":ep": seen_ep, ":rr": seen_rev})}]
    if audit is not None:
        ops.append(audit_log.put_op(audit))
    _transact_on(key, ops)


def delete(user: dict[str, Any], audit: dict[str, Any]) -> None:
    """The user and its username claim go together, with the audit entry, on condition
    that it still counts the keys and clients it counted when read (LostRace if not,
    NotFound if it is gone)."""
    key = user_key(str(user["userId"]))
    name_pk, name_sk = _name_key(str(user["username"]))
    _transact_on(key, [
        {"Delete": {"Key": {"PK": key[0], "SK": key[1]},
                    "ConditionExpression": "attribute_exists(PK) AND "
                                           "(attribute_not_exists(#dc) OR #dc = :dc)",
                    "ExpressionAttributeNames": {"#dc": HANDED_OUT},
                    "ExpressionAttributeValues": {":dc": int(user.get(HANDED_OUT, 0))}}},
        {"Delete": {"Key": {"PK": name_pk, "SK": name_sk}}},
        audit_log.put_op(audit)])


def _transact_on(key: tuple[str, str], ops: list[dict[str, Any]]) -> None:
    try:
        store.transact(ops)
    except store.TransactionConflict as exc:
        if store.get(*key, consistent=True) is None:
            raise NotFound("No such user.") from exc
        raise LostRace from exc


def set_fields(user_id: str, changes: dict[str, Any], *, if_hash: str | None = None) -> bool:
    """Plain attributes (last login, a password hash); with `if_hash`, only while the
    password hash is still that one (False if not)."""
    if if_hash is None:
        return store.update(*user_key(user_id), changes, returns=False) is not None
    return store.update(*user_key(user_id), changes, condition="passwordHash = :old",
                        values={":old": if_hash}, returns=False) is not None


def page(search: str | None, cursor: str | None,
         limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Users by username (those starting with `search`)."""
    return store.query_page("USER", index="GSI2", cursor=cursor, limit=limit, forward=True,
                            sk_prefix=search.lower() if search else None)


def holding(role: str) -> list[dict[str, Any]]:
    """Users that hold a role (the user listing, filtered: bounded by the number of
    users, read only when a custom role changes)."""
    return [u for u in store.query_all("USER", index="GSI2", forward=True)
            if role in (u.get("roles") or [])]


# -- what a user may do ---------------------------------------------------------------

def role_scopes(names: Iterable[str]) -> frozenset[str]:
    """The scopes of these roles (built-in or custom; an unknown role gives none)."""
    names = list(names)  # read twice below
    scopes: set[str] = set()
    custom = [n for n in names if n not in BUILTIN_ROLES]
    for name in names:
        if name in BUILTIN_ROLES:
            scopes |= BUILTIN_ROLES[name]
    if custom:
        found = store.batch_get([_role_key(n) for n in custom], consistent=True)
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


def owners_scopes(owner_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each owner's current scopes in one BatchGetItem; a deleted or inactive owner (or
    one that is not a user) has none."""
    wanted = [o for o in dict.fromkeys(owner_ids) if o]
    found = store.batch_get([user_key(o) for o in wanted], consistent=True)
    return {o: user_scopes(found.get(user_key(o))) for o in wanted}


class UserSubject(subjects.TokenSubject):
    """A user's item as its tokens stand on it."""

    kind = "user"

    def key(self, ident: str) -> tuple[str, str]:
        return user_key(ident)

    def token_scopes(self, scopes: frozenset[str], item: dict[str, Any]) -> frozenset[str]:
        return within(scopes, user_scopes(item)) if "scopes" in item else scopes

    def refresh_scopes(self, item: dict[str, Any]) -> frozenset[str]:
        return user_scopes(item)


USER = subjects.register(UserSubject())


# -- counting an owner's keys and clients ---------------------------------------------

def count_op(owner_id: str, rights_rev: int, at_most: int) -> dict[str, Any]:
    """The transaction op that counts a new key or client on its owner, failing if the
    owner's rights changed since read (`rights_rev`) or it holds `at_most` already."""
    pk, sk = user_key(owner_id)
    return {"Update": {
        "Key": {"PK": pk, "SK": sk},
        "UpdateExpression": "ADD #dc :one",
        "ConditionExpression": "attribute_exists(PK) AND "
                               "(attribute_not_exists(#rr) OR #rr = :rr) AND "
                               "(attribute_not_exists(#dc) OR #dc < :max)",
        "ExpressionAttributeNames": {"#rr": RIGHTS_REV, "#dc": HANDED_OUT},
        "ExpressionAttributeValues": {":rr": rights_rev, ":one": 1, ":max": at_most}}}


def uncount_op(owner_id: str) -> dict[str, Any]:
    """A deleted key or client leaves its owner's count."""
    pk, sk = user_key(owner_id)
    return {"Update": {"Key": {"PK": pk, "SK": sk},
                       "UpdateExpression": "ADD #dc :minus",
                       "ConditionExpression": "attribute_exists(PK)",
                       "ExpressionAttributeNames": {"#dc": HANDED_OUT},
                       "ExpressionAttributeValues": {":minus": -1}}}


# -- custom roles -----------------------------------------------------------------------

@dataclass(frozen=True)
class Role:
    name: str
    scopes: list[str]
    description: str = ""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Role:
        return cls(str(item["name"]), list(item.get("scopes", [])),
                   str(item.get("description", "")))


def get_role(name: str, consistent: bool = False) -> Role | None:
    item = store.get(*_role_key(name), consistent=consistent)
    return Role.from_item(item) if item else None


def roles(limit: int = 100) -> list[Role]:
    found, _ = store.query_page("ROLE", index="GSI2", limit=limit, forward=True)
    return [Role.from_item(i) for i in found]


def create_role(role: Role, created_at: str, audit: dict[str, Any]) -> None:
    pk, sk = _role_key(role.name)
    try:
        store.transact([
            {"Put": {"Item": {"PK": pk, "SK": sk, "GSI2PK": "ROLE", "GSI2SK": role.name,
                              "name": role.name, "description": role.description,
                              "scopes": role.scopes, "createdAt": created_at},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            audit_log.put_op(audit)])
    except store.TransactionConflict as exc:
        raise Conflict("A role with this name exists.") from exc


def update_role(name: str, changes: dict[str, Any], audit: dict[str, Any]) -> None:
    try:
        store.transact([
            {"Update": store.update_request(*_role_key(name), changes,
                                            condition="attribute_exists(PK)")},
            audit_log.put_op(audit)])
    except store.TransactionConflict as exc:
        raise NotFound("No such role.") from exc


def delete_role(name: str, audit: dict[str, Any]) -> None:
    pk, sk = _role_key(name)
    store.transact([{"Delete": {"Key": {"PK": pk, "SK": sk}}}, audit_log.put_op(audit)])
