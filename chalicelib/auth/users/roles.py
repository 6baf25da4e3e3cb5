"""Roles: the built-in ones (scopes.BUILTIN_ROLES) and custom ones, which only a
caller holding all their scopes creates, changes or deletes; a change reaches every
holder (and their keys and clients) before it answers.

Items: ROLE#<name> / ROLE, a custom role; GSI2 = ROLE / <name>.
"""

from __future__ import annotations

from typing import Any

from chalicelib.auth import delegation, owners
from chalicelib.auth.users import service
from chalicelib.auth.users.models import RoleBody, UpdateRole
from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import BUILTIN_ROLES
from chalicelib.events import audit
from chalicelib.store import table as store


def public_role(name: str, scopes: Any, description: str, builtin: bool) -> dict[str, Any]:
    return {"name": name, "description": description, "scopes": sorted(scopes),
            "builtIn": builtin}


BUILTIN_DESCRIPTIONS = {
    "admin": "Everything, across all owners.",
    "integrator": "Own keys, clients, webhooks, exports, imports, integrations; reads and "
                  "writes business resources.",
    "analyst": "Reads and exports.",
    "viewer": "Reads.",
}


def list_roles() -> list[dict[str, Any]]:
    roles = [public_role(n, s, BUILTIN_DESCRIPTIONS[n], True) for n, s in BUILTIN_ROLES.items()]
    custom, _ = store.query_page("ROLE", index="GSI2", limit=100, forward=True)
    roles += [public_role(r["name"], r["scopes"], r.get("description", ""), False)
              for r in custom]
    return roles


def get_role(name: str) -> dict[str, Any]:
    if name in BUILTIN_ROLES:
        return public_role(name, BUILTIN_ROLES[name], BUILTIN_DESCRIPTIONS[name], True)
    item = store.get(f"ROLE#{name}", "ROLE")
    if item is None:
        raise NotFound("No such role.")
    return public_role(item["name"], item["scopes"], item.get("description", ""), False)


def create_role(actor: Principal, body: RoleBody) -> dict[str, Any]:
    if body.name in BUILTIN_ROLES:
        raise Conflict("A built-in role has this name.")
    delegation.check_scopes(actor, body.scopes, "This role")
    now = clock.iso()
    try:
        store.transact([
            {"Put": {"Item": {"PK": f"ROLE#{body.name}", "SK": "ROLE", "GSI2PK": "ROLE",
                              "GSI2SK": body.name, "name": body.name,
                              "description": body.description, "scopes": body.scopes,
                              "createdAt": now},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            audit.put_op(audit.entry(actor, "role.create", "role", body.name,
                                     {"scopes": body.scopes}))])
    except store.TransactionConflict as exc:
        raise Conflict("A role with this name exists.") from exc
    return public_role(body.name, body.scopes, body.description, False)


def update_role(actor: Principal, name: str, body: UpdateRole) -> dict[str, Any]:
    if name in BUILTIN_ROLES:
        raise Conflict("Built-in roles cannot be changed.")
    current = store.get(f"ROLE#{name}", "ROLE", consistent=True)
    if current is None:
        raise NotFound("No such role.")
    # Changing a role is changing what its holders may do: only within the editor's own.
    delegation.check_scopes(actor, [*current.get("scopes", []), *(body.scopes or [])],
                            "This role")
    changes = {k: v for k, v in (("description", body.description), ("scopes", body.scopes))
               if v is not None}
    updated = {**current, **changes, "updatedAt": clock.iso()}
    try:
        store.transact([
            {"Update": store.update_request(f"ROLE#{name}", "ROLE",
                                            {**changes, "updatedAt": updated["updatedAt"]},
                                            condition="attribute_exists(PK)")},
            audit.put_op(audit.entry(actor, "role.update", "role", name, changes))])
    except store.TransactionConflict as exc:
        raise NotFound("No such role.") from exc
    if "scopes" in changes:
        _refresh_holders(name)
    return public_role(name, updated["scopes"], updated.get("description", ""), False)


def _refresh_holders(role: str, dropped: bool = False) -> None:
    """A custom role changed: its holders' scopes (and their keys' and clients') follow
    before the change answers. Dropped: the role is gone from their roles too. The role
    is already written: a holder changed meanwhile (or listed stale by the index) is read
    again and rewritten, never left with the role's old scopes."""
    for listed in owners.users_holding(role):
        for attempt in range(5):
            user = store.get(*owners.user_key(str(listed["userId"])), consistent=True)
            if user is None or role not in (user.get("roles") or []):
                break  # gone, or its roles rewritten (and its scopes with them) meanwhile
            kept = [r for r in user["roles"] if not (dropped and r == role)]
            try:
                service.write_user(user, {"roles": kept}, rights_changed=True)
                break
            except NotFound:
                break
            except Conflict:
                if attempt == 4:
                    raise


def delete_role(actor: Principal, name: str) -> None:
    if name in BUILTIN_ROLES:
        raise Conflict("Built-in roles cannot be deleted.")
    delegation.check_scopes(actor, get_role(name)["scopes"], "This role")
    store.transact([{"Delete": {"Key": {"PK": f"ROLE#{name}", "SK": "ROLE"}}},
                    audit.put_op(audit.entry(actor, "role.delete", "role", name, {}))])
    _refresh_holders(name, dropped=True)
