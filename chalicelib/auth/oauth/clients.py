"""OAuth clients: create, read, change, delete. A non-admin delegates only scopes and a
rate limit it has itself; changing a client needs every scope it has; a sandbox
principal makes and sees sandbox clients only (see delegation.py)."""

from __future__ import annotations

from typing import Any

from chalicelib.auth import credentials, delegation
from chalicelib.auth.oauth import repo
from chalicelib.auth.oauth.models import CreateClient, UpdateClient
from chalicelib.auth.sessions.subjects import SESSION_EPOCH
from chalicelib.auth.users import rights
from chalicelib.core import clock, ids
from chalicelib.core.errors import NotFound
from chalicelib.core.principal import Principal
from chalicelib.events import audit


def public_client(item: dict[str, Any]) -> dict[str, Any]:
    return {"client_id": item["clientId"], "name": item["name"], "scopes": item["scopes"],
            "effectiveScopes": sorted(repo.effective_scopes(item)),
            "tier": item["tier"], "rateLimit": item.get("rateLimit"),
            "hourLimit": item["hourLimit"], "owner": item["owner"], "active": item["active"],
            "sandbox": bool(item.get("sandbox")),
            "createdAt": item["createdAt"], "updatedAt": item.get("updatedAt")}


def create_client(actor: Principal | None, body: CreateClient, *, owner: str | None = None,
                  client_id: str | None = None, secret: str | None = None) -> dict[str, Any]:
    """Creates a client; a non-admin may only delegate scopes and a rate limit it has
    itself, and a sandbox principal makes sandbox clients."""
    scopes = sorted(body.scopes)
    tier = body.tier or (actor.tier if actor else "free")
    hour_limit = delegation.hour_limit_for(tier, body.rate_limit)
    if actor is not None:
        delegation.check_client_maker(actor)
        delegation.check_scopes(actor, scopes, "This client")
        delegation.check_limit(actor, hour_limit, 0, "a client")
    cid = client_id or ids.new_id("cli")
    plain_secret = secret or ("gcs_" + ids.random_token(40))
    now = clock.iso()
    owner_id = owner if owner is not None else (actor.owner if actor else "")
    carried, owner_check = rights.owner_state(owner_id)
    item = repo.new_item(cid, owner_id, now, {
        "name": body.name, "scopes": scopes, "tier": tier,
        "rateLimit": body.rate_limit, "hourLimit": hour_limit,
        "secretHash": credentials.hash_secret(plain_secret),
        "active": True, "sandbox": bool(actor and actor.sandbox),
        "createdAt": now, "updatedAt": now, **carried})
    repo.create_client(item, owner_check, audit.entry(
        actor, "oauth_client.create", "oauth_client", cid,
        {"name": body.name, "scopes": scopes}, owner=owner_id))
    return {**public_client(item), "client_secret": plain_secret}


def visible_client(actor: Principal, client_id: str) -> dict[str, Any]:
    return delegation.visible(actor, repo.client_item(client_id), "OAuth client")


def _changeable_client(actor: Principal, client_id: str) -> dict[str, Any]:
    """A client the actor may change: visible, and no broader than the actor."""
    item = visible_client(actor, client_id)
    delegation.check_client_maker(actor)
    delegation.check_scopes(actor, item["scopes"], "This client")
    return item


def update_client(actor: Principal, client_id: str, body: UpdateClient) -> dict[str, Any]:
    item = _changeable_client(actor, client_id)
    changes: dict[str, Any] = {}
    for field in ("name", "scopes", "tier", "active"):
        value = getattr(body, field)
        if value is not None:
            changes[field] = value
    if "rate_limit" in body.model_fields_set:
        changes["rateLimit"] = body.rate_limit
    delegation.check_scopes(actor, changes.get("scopes", item["scopes"]), "This client")
    delegation.check_activation(actor, item, changes.get("active"), "client")
    tier = changes.get("tier", item["tier"])
    changes["hourLimit"] = delegation.hour_limit_for(tier, changes.get("rateLimit",
                                                                       item.get("rateLimit")))
    delegation.check_limit(actor, changes["hourLimit"], int(item["hourLimit"]), "a client")
    remove: tuple[str, ...] = ()
    if changes.get("active") is False:
        # Switching off again never clears an admin's switch-off (or a non-admin could
        # then switch it back on).
        changes["deactivatedByAdmin"] = actor.is_admin or bool(item.get("deactivatedByAdmin"))
        if item.get("active"):
            # Deactivation ends the client's tokens for good, refresh tokens included:
            # reactivating it brings the client back, not its old sessions.
            changes[SESSION_EPOCH] = int(item.get(SESSION_EPOCH, 0)) + 1
    elif changes.get("active"):
        remove = ("deactivatedByAdmin",)
    updated = repo.update_client(item, changes, remove=remove, audit=audit.entry(
        actor, "oauth_client.update", "oauth_client", client_id,
        {k: v for k, v in changes.items()
         if k not in ("hourLimit", "deactivatedByAdmin", SESSION_EPOCH)},
        owner=str(item["owner"])))
    if updated is None:
        raise NotFound("No such OAuth client.")
    return public_client(updated)


def delete_client(actor: Principal, client_id: str) -> None:
    item = _changeable_client(actor, client_id)
    # Deleting the item revokes its tokens at once: every request's write requires it.
    repo.delete_client(item, audit.entry(actor, "oauth_client.delete", "oauth_client",
                                              client_id, {}, owner=str(item["owner"])))
