"""Roles: the built-in ones (scopes.BUILTIN_ROLES) and custom ones, which only a
caller holding all their scopes creates, changes or deletes; a change reaches every
holder (and their keys and clients) before it answers. Items: repo.py."""

from __future__ import annotations

from typing import Any

from chalicelib.auth import delegation
from chalicelib.auth.users import repo, service
from chalicelib.auth.users.models import RoleBody, UpdateRole
from chalicelib.auth.users.repo import Role
from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import BUILTIN_ROLES, ROLE_DESCRIPTIONS
from chalicelib.events import audit
from chalicelib.store import optimistic

HOLDER_ATTEMPTS = 5


def public_role(name: str, scopes: Any, description: str, builtin: bool) -> dict[str, Any]:
    return {"name": name, "description": description, "scopes": sorted(scopes),
            "builtIn": builtin}


def _public(role: Role) -> dict[str, Any]:
    return public_role(role.name, role.scopes, role.description, False)


def list_roles() -> list[dict[str, Any]]:
    roles = [public_role(n, s, ROLE_DESCRIPTIONS.get(n, ""), True)
             for n, s in BUILTIN_ROLES.items()]
    return roles + [_public(r) for r in repo.roles()]


def get_role(name: str) -> dict[str, Any]:
    if name in BUILTIN_ROLES:
        return public_role(name, BUILTIN_ROLES[name], ROLE_DESCRIPTIONS.get(name, ""), True)
    role = repo.get_role(name)
    if role is None:
        raise NotFound("No such role.")
    return _public(role)


def create_role(actor: Principal, body: RoleBody) -> dict[str, Any]:
    if body.name in BUILTIN_ROLES:
        raise Conflict("A built-in role has this name.")
    delegation.check_scopes(actor, body.scopes, "This role")
    role = Role(body.name, body.scopes, body.description)
    repo.create_role(role, clock.iso(), audit.entry(actor, "role.create", "role", body.name,
                                                    {"scopes": body.scopes}))
    return _public(role)


def update_role(actor: Principal, name: str, body: UpdateRole) -> dict[str, Any]:
    if name in BUILTIN_ROLES:
        raise Conflict("Built-in roles cannot be changed.")
    current = repo.get_role(name, consistent=True)
    if current is None:
        raise NotFound("No such role.")
    # Changing a role is changing what its holders may do: only within the editor's own.
    delegation.check_scopes(actor, [*current.scopes, *(body.scopes or [])], "This role")
    changes: dict[str, Any] = {k: v for k, v in (("description", body.description),
                                                 ("scopes", body.scopes)) if v is not None}
    repo.update_role(name, {**changes, "updatedAt": clock.iso()},
                     audit.entry(actor, "role.update", "role", name, changes))
    if "scopes" in changes:
        _refresh_holders(name)
    return _public(Role(name, changes.get("scopes", current.scopes),
                        changes.get("description", current.description)))


def _refresh_holders(role: str, dropped: bool = False) -> None:
    """A custom role changed: its holders' scopes (and their keys' and clients') follow
    before the change answers. Dropped: the role is gone from their roles too. The role
    is already written: a holder changed meanwhile (or listed stale by the index) is read
    again and rewritten, never left with the role's old scopes."""
    for listed in repo.holding(role):
        user_id = str(listed["userId"])

        def rewrite(user_id: str = user_id) -> None:
            user = repo.get(user_id, consistent=True)
            if user is None or role not in (user.get("roles") or []):
                return  # gone, or its roles rewritten (and its scopes with them) meanwhile
            kept = [r for r in user["roles"] if not (dropped and r == role)]
            try:
                service.write_user(user, {"roles": kept}, rights_changed=True)
            except NotFound:
                return

        optimistic.retry(rewrite, attempts=HOLDER_ATTEMPTS,
                         conflict="The user changed meanwhile; try again.")


def delete_role(actor: Principal, name: str) -> None:
    if name in BUILTIN_ROLES:
        raise Conflict("Built-in roles cannot be deleted.")
    delegation.check_scopes(actor, get_role(name)["scopes"], "This role")
    repo.delete_role(name, audit.entry(actor, "role.delete", "role", name, {}))
    _refresh_holders(name, dropped=True)
