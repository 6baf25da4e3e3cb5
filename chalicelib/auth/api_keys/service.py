"""API keys: create, list, update, revoke, rotate (with a grace period), usage.

The key (gate_live_<id part><secret part>) is shown once and stored only as SHA-256;
the signing secret is shown once and stored encrypted (keyring). Authentication with a
key happens in auth/guard.py (one conditional write on the key's item); this module
owns the item's life cycle.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.auth import credentials, delegation, keyring
from chalicelib.auth.api_keys import repo
from chalicelib.auth.api_keys.models import (
    CreateApiKey,
    ListApiKeys,
    UpdateApiKey,
)
from chalicelib.auth.delegation import hour_limit_for
from chalicelib.auth.users import rights
from chalicelib.core import clock, ids
from chalicelib.core.errors import Conflict, Forbidden
from chalicelib.core.principal import Principal
from chalicelib.core.settings import get_settings
from chalicelib.events import audit

KEY_ID_RE = re.compile(r"^key_[0-9a-hjkmnp-tv-z]{12}$")
SECRET_PREFIX = "gks_"
_FORGET_ON_ROTATE = ("prevHash", "prevHashExpiresAt", "prevSecretEnc")


def new_secret() -> str:
    return SECRET_PREFIX + ids.random_token(48)


def status_of(item: dict[str, Any], now: float | None = None) -> str:
    if item.get("status") != "active":
        return str(item.get("status", "revoked"))
    if int(item.get("expiresAtEpoch", 0)) <= (clock.now() if now is None else now):
        return "expired"
    return "active"


def ended(principal_ref: str) -> str | None:
    """For work a principal set up to run later (a schedule): when it is an API key
    ("api_key:<id>") that is no longer active, why ("revoked", "expired", "deleted");
    None otherwise. What a key set up ends with the key. (Any principal: owners.ended.)"""
    kind, _, key_id = principal_ref.partition(":")
    if kind != "api_key":
        return None
    found = repo.key_item(key_id)
    if found is None:
        return "deleted"
    status = status_of(found)
    return None if status == "active" else status


def public_key(item: dict[str, Any]) -> dict[str, Any]:
    """What anyone who may see the key sees: never the key, its hash or the secret."""
    now = clock.now()
    out = {
        "id": item["keyId"], "prefix": item["prefix"], "name": item["name"],
        "scopes": item["scopes"], "tier": item["tier"], "rateLimit": item.get("rateLimit"),
        "hourLimit": item["hourLimit"], "status": status_of(item, now),
        "expiresAt": item["expiresAt"], "requireSignature": bool(item.get("requireSignature")),
        "ipAllowlist": item.get("ipAllowlist") or [], "sandbox": bool(item.get("sandbox")),
        "owner": item["owner"], "createdAt": item["createdAt"],
        "updatedAt": item.get("updatedAt"), "lastUsedAt": item.get("lastUsedAt"),
        "rotatedAt": item.get("rotatedAt"), "revokedAt": item.get("revokedAt"),
        "previousKeyExpiresAt": None,
        # What the key may do now: its scopes within its owner's current ones.
        "effectiveScopes": sorted(rights.delegated_scopes(item)),
    }
    prev_until = float(item.get("prevHashExpiresAt", 0))
    if item.get("prevHash") and prev_until > now:
        out["previousKeyExpiresAt"] = clock.iso(prev_until)
    return out


def _with_credentials(item: dict[str, Any], key: str, secret: str) -> dict[str, Any]:
    return {**public_key(item), "key": key, "secret": secret}


def _check_result(actor: Principal, result: dict[str, Any], current_limit: int = 0,
                  expiry: bool = True) -> None:
    """The key as it will be stays within the actor: scopes, rate limit, restrictions
    (the expiry only where the actor sets it)."""
    delegation.check_scopes(actor, result["scopes"], "This API key")
    delegation.check_limit(actor, int(result["hourLimit"]), current_limit, "an API key")
    delegation.check_key_restrictions(actor, result, expiry)


def create_key(actor: Principal, body: CreateApiKey) -> dict[str, Any]:
    """Answers the key with its `key` and `secret`, shown this once."""
    sandbox = actor.sandbox if body.sandbox is None else body.sandbox
    if actor.sandbox and not sandbox:
        raise Forbidden("A sandbox principal can only create sandbox keys.")
    scopes = sorted(body.scopes)
    tier = body.tier or actor.tier
    now = clock.now()
    expires = body.expires_at.timestamp() if body.expires_at else (
        now + get_settings().api_key_default_ttl_days * 86400)
    if actor.kind == "api_key" and not body.expires_at:
        # A key made by a key expires with its maker at the latest.
        expires = min(expires, actor.restrictions.get("expiresAtEpoch") or expires)
    result = {"scopes": scopes, "hourLimit": hour_limit_for(tier, body.rate_limit),
              "requireSignature": body.require_signature,
              "ipAllowlist": list(body.ip_allowlist), "expiresAtEpoch": int(expires)}
    _check_result(actor, result)
    key_id, key, prefix = credentials.new_api_key(sandbox)
    secret = new_secret()
    stamp = clock.iso(now)
    owner = actor.owner
    carried, owner_check = rights.owner_state(owner)
    item = repo.new_item(key_id, owner, stamp, {
        "name": body.name, "prefix": prefix,
        "keyHash": credentials.hash_secret(key), "secretEnc": keyring.encrypt(secret),
        "status": "active", "scopes": scopes, "tier": tier, "rateLimit": body.rate_limit,
        "hourLimit": result["hourLimit"], "expiresAt": clock.iso(expires),
        "expiresAtEpoch": int(expires), "requireSignature": body.require_signature,
        "ipAllowlist": list(body.ip_allowlist), "sandbox": sandbox,
        "createdBy": actor.describe(), "createdAt": stamp, "updatedAt": stamp, **carried})
    repo.create_key(item, owner_check, audit.entry(actor, "api_key.create", "api_key",
                                                   key_id, _audited(item), owner=owner))
    return _with_credentials(item, key, secret)


def _audited(item: dict[str, Any]) -> dict[str, Any]:
    # Field names the audit masker would hide (…Signature) are renamed, not dropped.
    fields = {"name": "name", "prefix": "prefix", "scopes": "scopes", "tier": "tier",
              "rateLimit": "rateLimit", "expiresAt": "expiresAt", "ipAllowlist": "ipAllowlist",
              "sandbox": "sandbox", "requireSignature": "signedRequests", "status": "status"}
    return {out: item[name] for name, out in fields.items() if name in item}


def visible_key(actor: Principal, key_id: str) -> dict[str, Any]:
    """The key if the actor may see it; another owner's key (or, for a sandbox caller, a
    live key) is simply not there (404)."""
    item = repo.key_item(key_id) if KEY_ID_RE.match(key_id) else None
    return delegation.visible(actor, item, "API key")


def _changeable_key(actor: Principal, key_id: str) -> dict[str, Any]:
    """A key the actor may change: visible, and no broader or looser than the actor (its
    expiry is checked where the actor sets one, and capped where it takes a secret)."""
    item = visible_key(actor, key_id)
    _check_result(actor, item, int(item["hourLimit"]), expiry=False)
    return item


def get_key(actor: Principal, key_id: str) -> dict[str, Any]:
    return public_key(visible_key(actor, key_id))


def list_keys(actor: Principal, query: ListApiKeys) -> tuple[list[dict[str, Any]], str | None]:
    wanted = {s.strip() for s in query.status.split(",")} if query.status else None

    def shown(item: dict[str, Any]) -> bool:
        if actor.sandbox and not item.get("sandbox"):
            return False  # a sandbox caller sees test keys only
        return wanted is None or status_of(item) in wanted

    items, cursor = repo.list_keys(
        None if actor.is_admin else actor.owner, query.cursor, query.per_page,
        shown if (wanted or actor.sandbox) else None)
    return [public_key(i) for i in items], cursor


def update_key(actor: Principal, key_id: str, body: UpdateApiKey) -> dict[str, Any]:
    item = _changeable_key(actor, key_id)
    if item.get("status") != "active":
        raise Conflict("A revoked API key cannot be changed.")
    changes: dict[str, Any] = {}
    for field, attr in (("name", "name"), ("scopes", "scopes"), ("tier", "tier"),
                        ("require_signature", "requireSignature"),
                        ("ip_allowlist", "ipAllowlist")):
        value = getattr(body, field)
        if value is not None:
            changes[attr] = value
    if "rate_limit" in body.model_fields_set:
        changes["rateLimit"] = body.rate_limit
    if body.expires_at is not None:
        changes["expiresAt"] = clock.iso(body.expires_at.timestamp())
        changes["expiresAtEpoch"] = int(body.expires_at.timestamp())
    if not changes:
        return public_key(item)
    tier = changes.get("tier", item["tier"])
    changes["hourLimit"] = hour_limit_for(tier, changes.get("rateLimit", item.get("rateLimit")))
    _check_result(actor, {**item, **changes}, int(item["hourLimit"]),
                  expiry="expiresAtEpoch" in changes)
    updated = repo.update_key(
        item, changes, audit=audit.entry(actor, "api_key.update", "api_key", key_id,
                                         _audited(changes), owner=str(item["owner"])))
    if updated is None:
        raise Conflict("The API key changed meanwhile; try again.")
    return public_key(updated)


def revoke_key(actor: Principal, key_id: str) -> None:
    """Revoked at once: every request's write on the key requires status = active."""
    item = visible_key(actor, key_id)
    if item.get("status") == "revoked":
        return
    delegation.check_scopes(actor, item["scopes"], "This API key")
    repo.update_key(item, {"status": "revoked", "revokedAt": clock.iso()},
                    remove=_FORGET_ON_ROTATE,
                    audit=audit.entry(actor, "api_key.revoke", "api_key", key_id, {},
                                      owner=str(item["owner"])))


def rotate_key(actor: Principal, key_id: str, grace_seconds: int,
               action: str = "api_key.rotate") -> dict[str, Any]:
    """A new key and secret under the same id. During `grace_seconds` the old key (and
    its secret, for signed requests) still works; with 0 it stops at once. Only a caller
    holding every scope of the key (and no looser than it) may: the new secret is the
    key's whole power. A key rotated by a key that expires sooner expires with it: the
    secret handed out never outlives the hand that took it."""
    item = _changeable_key(actor, key_id)
    if status_of(item) != "active":
        raise Conflict(f"Only an active API key can be rotated; this one is "
                       f"{status_of(item)}.")
    id_part = key_id[len("key_"):]
    new_id, key, prefix = credentials.new_api_key(bool(item.get("sandbox")), id_part)
    assert new_id == key_id and prefix == item["prefix"]
    secret = new_secret()
    now = clock.now()
    changes: dict[str, Any] = {"keyHash": credentials.hash_secret(key),
                               "secretEnc": keyring.encrypt(secret), "rotatedAt": clock.iso(now)}
    caller_expiry = int(actor.restrictions.get("expiresAtEpoch") or 0)
    if actor.kind == "api_key" and 0 < caller_expiry < int(item["expiresAtEpoch"]):
        changes.update({"expiresAt": clock.iso(caller_expiry),
                        "expiresAtEpoch": caller_expiry})
    remove: tuple[str, ...] = ()
    if grace_seconds > 0:
        changes.update({"prevHash": item["keyHash"],
                        "prevHashExpiresAt": int(now) + grace_seconds,
                        "prevSecretEnc": item["secretEnc"]})
    else:
        remove = _FORGET_ON_ROTATE
    # Conditional on the hash we read: two rotations racing cannot both hand out a key.
    updated = repo.update_key(item, changes, remove=remove, condition="keyHash = :seen",
                              values={":seen": item["keyHash"]},
                              audit=audit.entry(actor, action, "api_key", key_id,
                                                {"gracePeriodSeconds": grace_seconds},
                                                owner=str(item["owner"])))
    if updated is None:
        raise Conflict("The API key was rotated or removed meanwhile; try again.")
    return _with_credentials(updated, key, secret)


def regenerate_key(actor: Principal, key_id: str) -> dict[str, Any]:
    """The old key stops at once; a new key and secret under the same id."""
    return rotate_key(actor, key_id, 0, action="api_key.regenerate")


def usage(actor: Principal, key_id: str, days: int) -> dict[str, Any]:
    """Requests and errors per UTC day (oldest first, today last), from the counters the
    guard keeps on the key's item."""
    item = visible_key(actor, key_id)
    now = clock.now()
    series = []
    total_r = total_e = 0
    for back in range(days - 1, -1, -1):
        day = clock.day(now - back * 86400)
        requests, errors = repo.usage_on(item, day)
        total_r += requests
        total_e += errors
        series.append({"date": day, "requests": requests, "errors": errors})
    return {"id": key_id, "days": series, "totals": {"requests": total_r, "errors": total_e},
            "lastUsedAt": item.get("lastUsedAt"), "from": series[0]["date"],
            "to": series[-1]["date"]}
