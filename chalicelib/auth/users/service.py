"""Users, roles and role assignments; login, refresh and logout of users.

Items:
  USER#<id> / USER              the user (also its rate-limit counters and revocations);
                                GSI2 = USER / <username> for the admin listing
  USERNAME#<lower name> / USERNAME   claims a username (created with the user in one
                                transaction, so two sign-ups cannot share a name)
  ROLE#<name> / ROLE            a custom role; GSI2 = ROLE / <name>
"""

from __future__ import annotations

from typing import Any

from chalicelib.auth import credentials
from chalicelib.auth.guard import SESSION_EPOCH, epoch_condition
from chalicelib.auth.oauth import service as oauth
from chalicelib.auth.principal import Principal
from chalicelib.auth.scopes import BUILTIN_ROLES, expand
from chalicelib.auth.users.models import CreateUser, RoleBody, UpdateRole, UpdateUser
from chalicelib.core import clock, ids
from chalicelib.core.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    NotFound,
    OAuthError,
    Unprocessable,
)
from chalicelib.core.settings import get_settings
from chalicelib.ops import audit
from chalicelib.store import table as store

PORTAL_CLIENT = "gatehouse-portal"


def public_user(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["userId"], "username": item["username"], "email": item["email"],
            "roles": item.get("roles", []), "active": item.get("active", True),
            "tier": item.get("tier", "pro"), "createdAt": item["createdAt"],
            "updatedAt": item.get("updatedAt"), "lastLoginAt": item.get("lastLoginAt")}


# -- roles ----------------------------------------------------------------------------

def role_scopes(names: list[str]) -> frozenset[str]:
    scopes: set[str] = set()
    for name in names:
        if name in BUILTIN_ROLES:
            scopes |= BUILTIN_ROLES[name]
        else:
            custom = store.get(f"ROLE#{name}", "ROLE")
            if custom:
                scopes |= set(custom.get("scopes", []))
    return frozenset(scopes)


def role_exists(name: str) -> bool:
    return name in BUILTIN_ROLES or store.get(f"ROLE#{name}", "ROLE") is not None


def _check_roles(actor: Principal | None, roles: list[str],
                 held: list[str] | None = None) -> list[str]:
    """Known roles; a non-admin may grant only roles within its own scopes (`held`: the
    roles the user already has, which are not being granted now)."""
    missing = [r for r in roles if not role_exists(r)]
    if missing:
        raise Unprocessable("Unknown role(s).", details=[{"field": "roles",
                                                          "message": ", ".join(missing)}])
    if actor is not None and not actor.is_admin:
        if "admin" in set(roles) - set(held or []):
            raise Forbidden("Only an admin can grant the admin role.")
        granted = role_scopes(sorted(set(roles) - set(held or [])))
        beyond = sorted(granted - expand(actor.scopes))
        if beyond:
            raise Forbidden("A role cannot be granted with scopes its granter lacks.",
                            details=[{"field": "roles", "message": ", ".join(beyond)}])
    return sorted(set(roles))


def _check_target(actor: Principal, item: dict[str, Any]) -> None:
    """A non-admin manager acts only on users with no more power than itself (or it
    could reset an admin's password and become the admin)."""
    if actor.is_admin or (actor.kind == "user" and actor.id == item["userId"]):
        return
    if "admin" in item.get("roles", []) or role_scopes(
            list(item.get("roles", []))) - expand(actor.scopes):
        raise Forbidden("This user has scopes you lack; only an admin can change it.")


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
    now = clock.iso()
    store.put_new({"PK": f"ROLE#{body.name}", "SK": "ROLE", "GSI2PK": "ROLE",
                   "GSI2SK": body.name, "name": body.name, "description": body.description,
                   "scopes": body.scopes, "createdAt": now}, "A role with this name exists.")
    audit.record(actor, "role.create", "role", body.name, {"scopes": body.scopes})
    return public_role(body.name, body.scopes, body.description, False)


def update_role(actor: Principal, name: str, body: UpdateRole) -> dict[str, Any]:
    if name in BUILTIN_ROLES:
        raise Conflict("Built-in roles cannot be changed.")
    changes = {k: v for k, v in (("description", body.description), ("scopes", body.scopes))
               if v is not None}
    updated = store.update(f"ROLE#{name}", "ROLE", {**changes, "updatedAt": clock.iso()})
    if updated is None:
        raise NotFound("No such role.")
    audit.record(actor, "role.update", "role", name, changes)
    return public_role(name, updated["scopes"], updated.get("description", ""), False)


def delete_role(actor: Principal, name: str) -> None:
    if name in BUILTIN_ROLES:
        raise Conflict("Built-in roles cannot be deleted.")
    get_role(name)
    store.delete(f"ROLE#{name}", "ROLE")
    audit.record(actor, "role.delete", "role", name, {})


# -- users ----------------------------------------------------------------------------

def user_item(user_id: str) -> dict[str, Any] | None:
    return store.get(f"USER#{user_id}", "USER")


def user_by_name(username: str) -> dict[str, Any] | None:
    claim = store.get(f"USERNAME#{username.lower()}", "USERNAME")
    return user_item(claim["userId"]) if claim else None


def create_user(actor: Principal | None, body: CreateUser) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer
    from botocore.exceptions import ClientError

    roles = _check_roles(actor, body.roles)
    tier = body.tier or ("enterprise" if "admin" in roles else "pro")
    if actor is not None and not actor.is_admin and body.tier:
        raise Forbidden("Only an admin can choose a user's tier.")
    user_id = ids.new_id("usr")
    now = clock.iso()
    item = {"PK": f"USER#{user_id}", "SK": "USER", "GSI2PK": "USER",
            "GSI2SK": body.username.lower(), "userId": user_id, "username": body.username,
            "email": body.email, "passwordHash": credentials.hash_password(body.password),
            "roles": roles, "active": True, "tier": tier,
            "hourLimit": get_settings().tiers[tier], "owner": user_id, "createdAt": now,
            "updatedAt": now}
    ser = TypeSerializer()
    table_name = get_settings().table_name
    try:
        store.client().transact_write_items(TransactItems=[
            {"Put": {"TableName": table_name,
                     "Item": {k: ser.serialize(v) for k, v in item.items()},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Put": {"TableName": table_name,
                     "Item": {k: ser.serialize(v) for k, v in {
                         "PK": f"USERNAME#{body.username.lower()}", "SK": "USERNAME",
                         "userId": user_id}.items()},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
        ])
    except ClientError as exc:
        if store.is_condition_failure(exc):
            raise Conflict("This username is taken.") from exc
        raise
    audit.record(actor, "user.create", "user", user_id,
                 {"username": body.username, "email": body.email, "roles": roles},
                 owner=user_id)
    return public_user(item)


def visible_user(actor: Principal, user_id: str) -> dict[str, Any]:
    item = user_item(user_id)
    if item is None or not (actor.owner == user_id or "users:manage" in actor.scopes
                            or actor.is_admin):
        raise NotFound("No such user.")
    return item


def update_user(actor: Principal, user_id: str, body: UpdateUser) -> dict[str, Any]:
    item = visible_user(actor, user_id)
    manager = actor.is_admin or "users:manage" in actor.scopes
    _check_target(actor, item)
    changes: dict[str, Any] = {}
    end_sessions = False
    if body.email is not None:
        changes["email"] = body.email
    if body.password is not None:
        # Self-service needs the current password: a stolen access token must not be
        # able to take the account over for good.
        self_service = not manager or (actor.kind == "user" and actor.id == user_id)
        if self_service and not (body.current_password and credentials.check_password(
                body.current_password, str(item["passwordHash"]))):
            raise Forbidden("Changing your password needs your current password "
                            "(currentPassword).",
                            details=[{"field": "currentPassword", "message": "wrong or missing"}])
        changes["passwordHash"] = credentials.hash_password(body.password)
        end_sessions = True  # a new password: tokens issued before it are refused
    if body.roles is not None or body.active is not None or body.tier is not None:
        if not manager:
            raise Forbidden("Only a user manager can change roles, status or tier.")
        if body.roles is not None:
            old_roles = list(item.get("roles", []))
            changes["roles"] = _check_roles(actor, body.roles, held=old_roles)
            if set(old_roles) - set(changes["roles"]):
                end_sessions = True  # a role taken away: the sessions carrying its scopes
        if body.active is not None:
            changes["active"] = body.active
        if body.tier is not None:
            changes["tier"] = body.tier
            changes["hourLimit"] = get_settings().tiers[body.tier]
    updated = _write_user(item, changes, end_sessions)
    audit.record(actor, "user.update", "user", user_id,
                 {k: v for k, v in changes.items() if k != "passwordHash"} |
                 ({"password": "changed"} if "passwordHash" in changes else {}),
                 owner=item["userId"])
    return public_user(updated)


def _write_user(item: dict[str, Any], changes: dict[str, Any],
                end_sessions: bool = False) -> dict[str, Any]:
    """Writes the changes; ending the sessions bumps the epoch from the value read, on
    condition that it is still that value: a concurrent bump is never overwritten (a
    token minted in between would otherwise live on). 409 when it moved meanwhile."""
    key = (f"USER#{item['userId']}", "USER")
    cond, names, values = "attribute_exists(PK)", None, None
    if end_sessions:
        seen = int(item.get(SESSION_EPOCH, 0))
        changes = {**changes, SESSION_EPOCH: seen + 1}
        cond += " AND " + epoch_condition(seen)
        names, values = {"#ep": SESSION_EPOCH}, {":ep": seen}
    updated = store.update(*key, {**changes, "updatedAt": clock.iso()}, condition=cond,
                           names=names, values=values)
    if updated is None:
        if store.get(*key, consistent=True) is None:
            raise NotFound("No such user.")
        raise Conflict("The user changed meanwhile; try again.")
    return updated


def delete_user(actor: Principal, user_id: str) -> None:
    item = visible_user(actor, user_id)
    if item["userId"] == actor.owner:
        raise Conflict("You cannot delete yourself.")
    _check_target(actor, item)
    store.delete(f"USER#{user_id}", "USER")
    store.delete(f"USERNAME#{str(item['username']).lower()}", "USERNAME")
    audit.record(actor, "user.delete", "user", user_id, {"username": item["username"]},
                 owner=user_id)


def list_users(search: str | None, cursor: str | None,
               limit: int) -> tuple[list[dict[str, Any]], str | None]:
    items, nxt = store.query_page("USER", index="GSI2", cursor=cursor, limit=limit,
                                  forward=True, sk_prefix=search.lower() if search else None)
    return [public_user(i) for i in items], nxt


def assign_role(actor: Principal, user_id: str, role: str) -> dict[str, Any]:
    item = user_item(user_id)
    if item is None:
        raise NotFound("No such user.")
    _check_target(actor, item)
    roles = _check_roles(actor, [*item.get("roles", []), role], held=item.get("roles", []))
    store.update(f"USER#{user_id}", "USER", {"roles": roles, "updatedAt": clock.iso()})
    audit.record(actor, "user_role.assign", "user", user_id, {"role": role}, owner=user_id)
    return {"userId": user_id, "username": item["username"], "role": role}


def unassign_role(actor: Principal, user_id: str, role: str) -> None:
    item = user_item(user_id)
    if item is None or role not in item.get("roles", []):
        raise NotFound("No such role assignment.")
    _check_target(actor, item)
    # A role taken away ends the sessions that carried its scopes.
    _write_user(item, {"roles": [r for r in item["roles"] if r != role]}, end_sessions=True)
    audit.record(actor, "user_role.remove", "user", user_id, {"role": role}, owner=user_id)


# -- sessions ---------------------------------------------------------------------------

def login(username: str, password: str, issuer: str, ip: str) -> dict[str, Any]:
    """The attempt is charged to the IP before the password is checked (429 once the
    IP's budget is spent); a successful login gives it back, so only failures count."""
    from chalicelib.auth.guard import spend_attempt
    from chalicelib.http import ratelimit

    attempt = spend_attempt(ip)
    item = user_by_name(username)
    stored = str(item["passwordHash"]) if item else credentials.dummy_password_hash()
    valid = credentials.check_password(password, stored)
    if not item or not valid or not item.get("active", True):
        raise AuthenticationFailed("Wrong username or password.", error="")
    ratelimit.refund_ip(ip, attempt)
    changes: dict[str, Any] = {"lastLoginAt": clock.iso()}
    if credentials.needs_rehash(stored):
        # Old parameters: rewritten with the current ones, only if the hash is still the
        # one checked (a password changed meanwhile is never overwritten).
        upgraded = store.update(f"USER#{item['userId']}", "USER",
                                {**changes, "passwordHash": credentials.hash_password(password)},
                                condition="passwordHash = :old", values={":old": stored},
                                returns=False)
        if upgraded is not None:
            changes = {}
    if changes:
        store.update(f"USER#{item['userId']}", "USER", changes)
    scopes = sorted(role_scopes(item.get("roles", [])))
    return oauth.token_response(issuer=issuer, kind="user", subject=item["userId"],
                                client_id=PORTAL_CLIENT, scopes=scopes,
                                epoch=int(item.get(SESSION_EPOCH, 0)))


def refresh(refresh_token: str, issuer: str) -> dict[str, Any]:
    try:
        return oauth.refresh_grant(refresh_token, issuer, client=None, kind="user")
    except OAuthError as exc:
        raise AuthenticationFailed(exc.description, error="invalid_token") from exc


def logout(refresh_token: str | None, issuer: str) -> None:
    """Revokes the refresh token's family and with it its access tokens."""
    if refresh_token:
        oauth.revoke(refresh_token, issuer, client=None)


def ensure_user(username: str, password: str, email: str, roles: list[str]) -> str:
    """Bootstrap: the user exists with this password and these roles."""
    found = user_by_name(username)
    if found is None:
        from chalicelib.auth.users.models import CreateUser as Create

        return str(create_user(None, Create(username=username, email=email, password=password,
                                            roles=roles, tier="enterprise"))["id"])
    if not credentials.check_password(password, str(found["passwordHash"])):
        store.update(f"USER#{found['userId']}", "USER",
                     {"passwordHash": credentials.hash_password(password)})
    return str(found["userId"])
