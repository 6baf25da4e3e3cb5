"""Users and role assignments; login, refresh and logout of users (custom roles
themselves: roles.py).

Items:
  USER#<id> / USER              the user (also its rate-limit counters and revocations);
                                GSI2 = USER / <username> for the admin listing
  USERNAME#<lower name> / USERNAME   claims a username (created with the user in one
                                transaction, so two sign-ups cannot share a name)
"""

from __future__ import annotations

from typing import Any

from chalicelib.auth import credentials, owners
from chalicelib.auth.guard import SESSION_EPOCH, epoch_condition
from chalicelib.auth.oauth import service as oauth
from chalicelib.auth.owners import RIGHTS_REV, role_scopes
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
from chalicelib.store import table as store

PORTAL_CLIENT = "gatehouse-portal"


def public_user(item: dict[str, Any]) -> dict[str, Any]:
    return {"id": item["userId"], "username": item["username"], "email": item["email"],
            "roles": item.get("roles", []), "active": item.get("active", True),
            "tier": item.get("tier", "pro"), "firstName": item.get("firstName"),
            "lastName": item.get("lastName"), "createdAt": item["createdAt"],
            "updatedAt": item.get("updatedAt"), "lastLoginAt": item.get("lastLoginAt")}


# -- roles ----------------------------------------------------------------------------

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
    """A key or client never changes its owner's account (its roles included); a
    non-admin manager acts only on users with no more power than itself (or it could
    reset an admin's password and become the admin)."""
    if actor.kind != "user" and actor.owner == item["userId"]:
        raise Forbidden("An API key or OAuth client cannot change its owner's account; "
                        "log in as the user.")
    if actor.is_admin or (actor.kind == "user" and actor.id == item["userId"]):
        return
    if "admin" in item.get("roles", []) or owners.user_scopes(
            {**item, "active": True}) - expand(actor.scopes):
        raise Forbidden("This user has scopes you lack; only an admin can change it.")


# -- users ----------------------------------------------------------------------------

def user_item(user_id: str) -> dict[str, Any] | None:
    return store.get(*owners.user_key(user_id))


def user_by_name(username: str) -> dict[str, Any] | None:
    claim = store.get(f"USERNAME#{username.lower()}", "USERNAME")
    return user_item(claim["userId"]) if claim else None


def create_user(actor: Principal | None, body: CreateUser) -> dict[str, Any]:
    roles = _check_roles(actor, body.roles)
    tier = body.tier or ("enterprise" if "admin" in roles else "pro")
    if actor is not None and not actor.is_admin and body.tier:
        raise Forbidden("Only an admin can choose a user's tier.")
    user_id = ids.new_id("usr")
    now = clock.iso()
    item = {"PK": f"USER#{user_id}", "SK": "USER", "GSI2PK": "USER",
            "GSI2SK": body.username.lower(), "userId": user_id, "username": body.username,
            "email": body.email, "passwordHash": credentials.hash_password(body.password),
            "roles": roles, "scopes": sorted(role_scopes(roles)), "active": body.active,
            "tier": tier, "hourLimit": get_settings().tiers[tier], "owner": user_id,
            "createdAt": now, "updatedAt": now}
    item.update({k: v for k, v in (("firstName", body.first_name),
                                   ("lastName", body.last_name)) if v is not None})
    try:
        store.transact([
            {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
            {"Put": {"Item": {"PK": f"USERNAME#{body.username.lower()}", "SK": "USERNAME",
                              "userId": user_id},
                     "ConditionExpression": "attribute_not_exists(PK)"}},
            audit.put_op(audit.entry(actor, "user.create", "user", user_id,
                                     {"username": body.username, "email": body.email,
                                      "roles": roles}, owner=user_id))])
    except store.TransactionConflict as exc:
        raise Conflict("This username is taken.") from exc
    return public_user(item)


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
    updated = write_user(item, changes, rights_changed=rights_changed,
                          end_sessions=end_sessions,
                          audit_item=audit.entry(actor, "user.update", "user", user_id, noted,
                                                 owner=user_id))
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
    between would otherwise live on); 409 when it moved meanwhile. Changed rights (roles,
    status) recompute the user's scopes and reach its keys and clients before this
    answers."""
    user_id = str(item["userId"])
    key = owners.user_key(user_id)
    changes = {**changes, "updatedAt": clock.iso()}
    seen_ep, seen_rev = int(item.get(SESSION_EPOCH, 0)), int(item.get(RIGHTS_REV, 0))
    cond = f"attribute_exists(PK) AND {epoch_condition(seen_ep)}"
    cond += " AND (attribute_not_exists(#rr) OR #rr = :rr)" if seen_rev == 0 else \
        " AND #rr = :rr"
    names, values = {"#ep": SESSION_EPOCH, "#rr": RIGHTS_REV}, {":ep": seen_ep, ":rr": seen_rev}
    if end_sessions:
        changes[SESSION_EPOCH] = seen_ep + 1
    if rights_changed:
        changes["scopes"] = sorted(role_scopes(changes.get("roles", item.get("roles", []))))
        changes[RIGHTS_REV] = seen_rev + 1
    after = {**item, **changes}
    ops: list[dict[str, Any]] = [{"Update": store.update_request(
        *key, changes, condition=cond, names=names, values=values)}]
    if audit_item is not None:
        ops.append(audit.put_op(audit_item))
    try:
        store.transact(ops)
    except store.TransactionConflict as exc:
        if store.get(*key, consistent=True) is None:
            raise NotFound("No such user.") from exc
        raise Conflict("The user changed meanwhile; try again.") from exc
    if rights_changed:
        # Narrowed scopes reach the clients' tokens through their items; a deactivation
        # also ends those tokens for good.
        owners.propagate(user_id, after, end_sessions=changes.get("active") is False)
    return after


def delete_user(actor: Principal, user_id: str) -> None:
    item = visible_user(actor, user_id)
    if item["userId"] == actor.owner:
        raise Conflict("You cannot delete yourself.")
    if not _manager(actor):
        raise Forbidden("Deleting a user needs users:manage.")
    _check_target(actor, item)
    # The user and its username claim go together, with the audit entry; on condition
    # that it counts the keys and clients read here (one made meanwhile would be missed
    # by the propagation below, which can no longer read the count).
    handed_out = int(item.get(owners.HANDED_OUT, 0))
    pk, sk = owners.user_key(user_id)
    try:
        store.transact([
            {"Delete": {"Key": {"PK": pk, "SK": sk},
                        "ConditionExpression": "attribute_exists(PK) AND "
                                               "(attribute_not_exists(#dc) OR #dc = :dc)",
                        "ExpressionAttributeNames": {"#dc": owners.HANDED_OUT},
                        "ExpressionAttributeValues": {":dc": handed_out}}},
            {"Delete": {"Key": {"PK": f"USERNAME#{str(item['username']).lower()}",
                                "SK": "USERNAME"}}},
            audit.put_op(audit.entry(actor, "user.delete", "user", user_id,
                                     {"username": item["username"]}, owner=user_id))])
    except store.TransactionConflict as exc:
        if store.get(pk, sk, consistent=True) is None:
            raise NotFound("No such user.") from exc
        raise Conflict("The user changed meanwhile; try again.") from exc
    # Its keys and clients stop at once (and its clients' tokens for good).
    owners.propagate(user_id, None, end_sessions=True, expected=handed_out)


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
    # Conditional on the user as read (rights revision), with its audit entry: two
    # assignments racing cannot lose one, a crash cannot lose the entry.
    write_user(item, {"roles": roles}, rights_changed=True,
                audit_item=audit.entry(actor, "user_role.assign", "user", user_id,
                                       {"role": role}, owner=user_id))
    return {"userId": user_id, "username": item["username"], "role": role}


def unassign_role(actor: Principal, user_id: str, role: str) -> None:
    item = user_item(user_id)
    if item is None or role not in item.get("roles", []):
        raise NotFound("No such role assignment.")
    _check_target(actor, item)
    # A role taken away ends the sessions that carried its scopes.
    write_user(item, {"roles": [r for r in item["roles"] if r != role]},
                rights_changed=True, end_sessions=True,
                audit_item=audit.entry(actor, "user_role.remove", "user", user_id,
                                       {"role": role}, owner=user_id))


# -- sessions ---------------------------------------------------------------------------

def login(username: str, password: str, issuer: str, ip: str) -> dict[str, Any]:
    """The attempt is charged to the IP before the password is checked (429 once the
    IP's budget is spent); a successful login gives it back, so only failures count."""
    from chalicelib.auth import limiter
    from chalicelib.auth.guard import spend_attempt

    attempt = spend_attempt(ip)
    item = user_by_name(username)
    stored = str(item["passwordHash"]) if item else credentials.dummy_password_hash()
    valid = credentials.check_password(password, stored)
    if not item or not valid or not item.get("active", True):
        raise AuthenticationFailed("Wrong username or password.", error="")
    limiter.refund_ip(ip, attempt)
    changes: dict[str, Any] = {"lastLoginAt": clock.iso()}
    if credentials.needs_rehash(stored):
        # Old parameters: rewritten with the current ones, only if the hash is still the
        # one checked (a password changed meanwhile is never overwritten).
        upgraded = store.update(*owners.user_key(item["userId"]),
                                {**changes, "passwordHash": credentials.hash_password(password)},
                                condition="passwordHash = :old", values={":old": stored},
                                returns=False)
        if upgraded is not None:
            changes = {}
    if changes:
        store.update(*owners.user_key(item["userId"]), changes)
    scopes = sorted(role_scopes(item.get("roles", [])))
    return oauth.token_response(issuer=issuer, kind="user", subject=item["userId"],
                                client_id=PORTAL_CLIENT, scopes=scopes,
                                epoch=int(item.get(SESSION_EPOCH, 0)))


def refresh(refresh_token: str, issuer: str) -> dict[str, Any]:
    try:
        return oauth.refresh_grant(refresh_token, issuer, client=None, kind="user")
    except OAuthError as exc:
        raise AuthenticationFailed(exc.description, error="invalid_token") from exc


def logout(refresh_token: str | None, bearer: str, issuer: str) -> None:
    """Revokes the session: the refresh token's family and with it its access tokens;
    with only the access token (`Authorization: Bearer`, as the ticket-tracking brief
    logs out), that token's family."""
    if refresh_token:
        oauth.revoke(refresh_token, issuer, client=None)
    if bearer:
        oauth.end_session(bearer, issuer)


def ensure_user(username: str, password: str, email: str, roles: list[str]) -> str:
    """Bootstrap: the user exists with this password and these roles."""
    found = user_by_name(username)
    if found is None:
        from chalicelib.auth.users.models import CreateUser as Create

        return str(create_user(None, Create(username=username, email=email, password=password,
                                            roles=roles, tier="enterprise"))["id"])
    if not credentials.check_password(password, str(found["passwordHash"])):
        store.update(*owners.user_key(found["userId"]),
                     {"passwordHash": credentials.hash_password(password)})
    return str(found["userId"])
