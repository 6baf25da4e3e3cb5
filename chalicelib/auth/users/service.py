"""Users and role assignments; login, refresh and logout of users (custom roles
themselves: roles.py; the items: repo.py)."""

from __future__ import annotations

from typing import Any

from chalicelib.auth import attempts, credentials, limiter
from chalicelib.auth.sessions import service as sessions
from chalicelib.auth.sessions.subjects import SESSION_EPOCH
from chalicelib.auth.users import repo, rights
from chalicelib.auth.users.models import CreateUser, UpdateUser
from chalicelib.core import clock, ids
from chalicelib.core.errors import (
    AuthenticationFailed,
    Conflict,
    Forbidden,
    NotFound,
    OAuthError,
    Unprocessable,
)
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import BUILTIN_ROLES, expand
from chalicelib.core.settings import get_settings
from chalicelib.events import audit
from chalicelib.store.optimistic import LostRace

PORTAL_CLIENT = "gatehouse-portal"


def public_user(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["userId"], "username": item["username"], "email": item["email"],
            "roles": item.get("roles", []), "active": item.get("active", True),
            "tier": item.get("tier", "pro"), "firstName": item.get("firstName"),
            "lastName": item.get("lastName"), "createdAt": item["createdAt"],
            "updatedAt": item.get("updatedAt"), "lastLoginAt": item.get("lastLoginAt")}


# -- roles ----------------------------------------------------------------------------

def role_exists(name: str) -> bool:
    return name in BUILTIN_ROLES or repo.get_role(name) is not None


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
        granted = repo.role_scopes(sorted(set(roles) - set(held or [])))
        beyond = sorted(granted - expand(actor.scopes))
        if beyond:
            raise Forbidden("A role cannot be granted with scopes its granter lacks.",
                            details=[{"field": "roles", "message": ", ".join(beyond)}])
    return sorted(set(roles))


def _check_target(actor: Principal, item: dict[str, Any]) -> None:
    """A key or client never changes its owner's account (its roles included); a
    non-admin manager acts only on users with no more power than itself (or it could
    reset an admin's password and become the admin)."""
    if actor.kind != "user" and actor.owner == item["userId"]:
        raise Forbidden("An API key or OAuth client cannot change its owner's account; "
                        "log in as the user.")
    if actor.is_admin or (actor.kind == "user" and actor.id == item["userId"]):
        return
    if "admin" in item.get("roles", []) or repo.user_scopes(
            {**item, "active": True}) - expand(actor.scopes):
        raise Forbidden("This user has scopes you lack; only an admin can change it.")


# -- users ----------------------------------------------------------------------------

def user_item(user_id: str) -> dict[str, Any] | None:
    return repo.get(user_id)


def user_by_name(username: str) -> dict[str, Any] | None:
    return repo.by_name(username)


def create_user(actor: Principal | None, body: CreateUser) -> dict[str, Any]:
    roles = _check_roles(actor, body.roles)
    tier = body.tier or ("enterprise" if "admin" in roles else "pro")
    if actor is not None and not actor.is_admin and body.tier:
        raise Forbidden("Only an admin can choose a user's tier.")
    user_id = ids.new_id("usr")
    now = clock.iso()
    user = {"userId": user_id, "username": body.username,
            "email": body.email, "passwordHash": credentials.hash_password(body.password),
            "roles": roles, "scopes": sorted(repo.role_scopes(roles)), "active": body.active,
            "tier": tier, "hourLimit": get_settings().tiers[tier], "owner": user_id,
            "createdAt": now, "updatedAt": now}
    user.update({k: v for k, v in (("firstName", body.first_name),
                                   ("lastName", body.last_name)) if v is not None})
    return public_user(repo.create(user, audit.entry(
        actor, "user.create", "user", user_id,
        {"username": body.username, "email": body.email, "roles": roles}, owner=user_id)))


def visible_user(actor: Principal, user_id: str) -> dict[str, Any]:
    """Yourself, or anyone for a user manager; others are not there (404)."""
    item = user_item(user_id)
    if item is None or not (actor.owner == user_id or _manager(actor)):
        raise NotFound("No such user.")
    return item


def _manager(actor: Principal) -> bool:
    return actor.is_admin or "users:manage" in actor.scopes


def update_user(actor: Principal, user_id: str, body: UpdateUser) -> dict[str, Any]:
    item = visible_user(actor, user_id)
    oneself = actor.owner == user_id
    manager = _manager(actor)
    _check_target(actor, item)
    changes: dict[str, Any] = {}
    end_sessions = False
    # Self-service needs the current password: a stolen access token must not be able to
    # take the account over (a new password, or an email to reset it through).
    if (body.password is not None or body.email is not None) and oneself:
        if not (body.current_password and credentials.check_password(
                body.current_password, str(item["passwordHash"]))):
            raise Forbidden("Changing your email or password needs your current password "
                            "(currentPassword).",
                            details=[{"field": "currentPassword", "message": "wrong or missing"}])
    if body.email is not None:
        changes["email"] = body.email
    for field, attr in (("first_name", "firstName"), ("last_name", "lastName")):
        if getattr(body, field) is not None:
            changes[attr] = getattr(body, field)
    if body.password is not None:
        changes["passwordHash"] = credentials.hash_password(body.password)
        end_sessions = True  # a new password: tokens issued before it are refused
    rights_changed = False
    if body.roles is not None or body.active is not None or body.tier is not None:
        if not manager:
            raise Forbidden("Only a user manager can change roles, status or tier.")
        if body.roles is not None:
            old_roles = list(item.get("roles", []))
            changes["roles"] = _check_roles(actor, body.roles, held=old_roles)
            rights_changed = True
            if set(old_roles) - set(changes["roles"]):
                end_sessions = True  # a role taken away: the sessions carrying its scopes
        if body.active is not None and body.active != item.get("active", True):
            _check_activation(actor, item, body.active)
            changes["active"] = body.active
            changes["deactivatedByAdmin"] = actor.is_admin and not body.active
            rights_changed = True
            end_sessions = end_sessions or not body.active  # deactivation ends them for good
        if body.tier is not None and body.tier != item.get("tier"):
            if not actor.is_admin:
                raise Forbidden("Only an admin can change a user's tier.")
            changes["tier"] = body.tier
            changes["hourLimit"] = get_settings().tiers[body.tier]
    noted = {k: v for k, v in changes.items() if k not in ("passwordHash",
                                                            "deactivatedByAdmin")}
    if "passwordHash" in changes:
        noted["password"] = "changed"
    updated = _write_once(item, changes, rights_changed=rights_changed,
                          end_sessions=end_sessions,
                          audit_item=audit.entry(actor, "user.update", "user", user_id,
                                                 noted, owner=user_id))
    return public_user(updated)


def _check_activation(actor: Principal, item: dict[str, Any], active: bool) -> None:
    if actor.owner == item["userId"]:
        raise Forbidden("You cannot change your own status.")
    if active and item.get("deactivatedByAdmin") and not actor.is_admin:
        raise Forbidden("An admin deactivated this user; only an admin can reactivate it.")


def write_user(item: dict[str, Any], changes: dict[str, Any], *, rights_changed: bool = False,
               end_sessions: bool = False,
               audit_item: dict[str, Any] | None = None) -> dict[str, Any]:
    """Writes the changes (and the audit entry, in the same transaction) on condition
    that the user is as read: the session epoch and the rights revision are never
    overwritten by a writer that read them before a concurrent change (a token minted in
    between would otherwise live on); LostRace when it moved meanwhile (NotFound when it
    is gone). Changed rights (roles, status) recompute the user's scopes and reach its
    keys and clients before this answers."""
    changes = {**changes, "updatedAt": clock.iso()}
    if end_sessions:
        changes[SESSION_EPOCH] = int(item.get(SESSION_EPOCH, 0)) + 1
    if rights_changed:
        rights.require_kinds()  # before the write: no credential may miss the change
        changes["scopes"] = sorted(repo.role_scopes(changes.get("roles", item.get("roles", []))))
        changes[repo.RIGHTS_REV] = int(item.get(repo.RIGHTS_REV, 0)) + 1
    repo.update(item, changes, audit_item)
    after = {**item, **changes}
    if rights_changed:
        # Narrowed scopes reach the clients' tokens through their items; a deactivation
        # also ends those tokens for good.
        rights.propagate(str(item["userId"]), after,
                         end_sessions=changes.get("active") is False)
    return after


def _write_once(item: dict[str, Any], changes: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """write_user for a change the caller checked against `item`: a race lost is the
    caller's to retry with a fresh read (409)."""
    try:
        return write_user(item, changes, **kwargs)
    except LostRace as exc:
        raise Conflict("The user changed meanwhile; try again.") from exc


def delete_user(actor: Principal, user_id: str) -> None:
    item = visible_user(actor, user_id)
    if item["userId"] == actor.owner:
        raise Conflict("You cannot delete yourself.")
    if not _manager(actor):
        raise Forbidden("Deleting a user needs users:manage.")
    _check_target(actor, item)
    rights.require_kinds()
    # On condition that it counts the keys and clients read here (one made meanwhile
    # would be missed by the propagation below, which can no longer read the count).
    try:
        repo.delete(item, audit.entry(actor, "user.delete", "user", user_id,
                                      {"username": item["username"]}, owner=user_id))
    except LostRace as exc:
        raise Conflict("The user changed meanwhile; try again.") from exc
    # Its keys and clients stop at once (and its clients' tokens for good).
    rights.propagate(user_id, None, end_sessions=True,
                     expected=int(item.get(repo.HANDED_OUT, 0)))


def list_users(search: str | None, cursor: str | None,
               limit: int) -> tuple[list[dict[str, Any]], str | None]:
    items, nxt = repo.page(search, cursor, limit)
    return [public_user(i) for i in items], nxt


def assign_role(actor: Principal, user_id: str, role: str) -> dict[str, Any]:
    item = user_item(user_id)
    if item is None:
        raise NotFound("No such user.")
    _check_target(actor, item)
    roles = _check_roles(actor, [*item.get("roles", []), role], held=item.get("roles", []))
    # Conditional on the user as read (rights revision), with its audit entry: two
    # assignments racing cannot lose one, a crash cannot lose the entry.
    _write_once(item, {"roles": roles}, rights_changed=True,
                audit_item=audit.entry(actor, "user_role.assign", "user", user_id,
                                       {"role": role}, owner=user_id))
    return {"userId": user_id, "username": item["username"], "role": role}


def unassign_role(actor: Principal, user_id: str, role: str) -> None:
    item = user_item(user_id)
    if item is None or role not in item.get("roles", []):
        raise NotFound("No such role assignment.")
    _check_target(actor, item)
    # A role taken away ends the sessions that carried its scopes.
    _write_once(item, {"roles": [r for r in item["roles"] if r != role]},
                rights_changed=True, end_sessions=True,
                audit_item=audit.entry(actor, "user_role.remove", "user", user_id,
                                       {"role": role}, owner=user_id))


# -- sessions ---------------------------------------------------------------------------

def login(username: str, password: str, issuer: str, ip: str) -> dict[str, Any]:
    """The attempt is charged to the IP before the password is checked (429 once the
    IP's budget is spent); a successful login gives it back, so only failures count."""
    attempt = attempts.charge(ip)
    item = user_by_name(username)
    stored = str(item["passwordHash"]) if item else credentials.dummy_password_hash()
    valid = credentials.check_password(password, stored)
    if not item or not valid or not item.get("active", True):
        raise AuthenticationFailed("Wrong username or password.", error="")
    limiter.refund_ip(ip, attempt)
    changes: dict[str, Any] = {"lastLoginAt": clock.iso()}
    # Old parameters: rewritten with the current ones, only if the hash is still the one
    # checked (a password changed meanwhile is never overwritten).
    if not (credentials.needs_rehash(stored) and repo.set_fields(
            item["userId"], {**changes, "passwordHash": credentials.hash_password(password)},
            if_hash=stored)):
        repo.set_fields(item["userId"], changes)
    scopes = sorted(repo.role_scopes(item.get("roles", [])))
    return sessions.issue(issuer=issuer, kind="user", subject=item["userId"],
                          client_id=PORTAL_CLIENT, scopes=scopes,
                          epoch=int(item.get(SESSION_EPOCH, 0)))


def refresh(refresh_token: str, issuer: str) -> dict[str, Any]:
    try:
        return sessions.refresh_grant(refresh_token, issuer, kind="user")
    except OAuthError as exc:
        raise AuthenticationFailed(exc.description, error="invalid_token") from exc


def logout(refresh_token: str | None, bearer: str, issuer: str) -> None:
    """Revokes the session: the refresh token's family and with it its access tokens;
    with only the access token (`Authorization: Bearer`, as the ticket-tracking brief
    logs out), that token's family."""
    if refresh_token:
        sessions.revoke(refresh_token, issuer)
    if bearer:
        sessions.end_session(bearer, issuer)


def ensure_user(username: str, password: str, email: str, roles: list[str]) -> str:
    """Bootstrap: the user exists with this password and these roles."""
    found = user_by_name(username)
    if found is None:
        return str(create_user(None, CreateUser(username=username, email=email,
                                                password=password, roles=roles,
                                                tier="enterprise"))["id"])
    if not credentials.check_password(password, str(found["passwordHash"])):
        repo.set_fields(found["userId"], {"passwordHash": credentials.hash_password(password)})
    return str(found["userId"])
