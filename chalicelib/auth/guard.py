"""Authenticate a request and charge its rate limit in the same DynamoDB write.

Bearer JWT: verified locally; then one conditional update on the principal's item
(client or user) checks it still exists and is active, that neither the token (jti)
nor its refresh family (sid) is revoked, that the limits hold, and counts the request.
API key: one conditional update on the key's item checks hash (or the previous hash
during a rotation's grace period), status, expiry, the signature's freshness, and the
limits; it answers the item, whose encrypted signing secret then checks the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.auth import credentials, keyring, limiter, tokens
from chalicelib.auth.limiter import Quota
from chalicelib.auth.owners import delegated_scopes, user_scopes
from chalicelib.core import clock
from chalicelib.core.errors import AuthenticationFailed, Forbidden, RateLimited
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import sandboxed, within
from chalicelib.core.settings import get_settings

USAGE_KEEP_DAYS = 400


@dataclass
class Caller:
    principal: Principal | None
    quota: Quota | None


def principal_key(kind: str, ident: str) -> tuple[str, str]:
    if kind == "client":
        return f"CLIENT#{ident}", "CLIENT"
    if kind == "user":
        return f"USER#{ident}", "USER"
    return f"APIKEY#{ident}", "APIKEY"


def usage_attr(day: str, what: str) -> str:
    return f"u_{day}_{what}"


def revocation_attr(ident: str) -> str:
    return f"rv_{ident}"


# Sessions of a principal: every token carries the principal's epoch at issuance
# (claim gh_ep, absent = 0); raising the epoch on the principal's item (a password
# change, a role taken away) kills every token issued before, in the same second too.
SESSION_EPOCH = "sessionEpoch"


def session_epoch_of(claims: dict[str, Any]) -> int:
    try:
        return int(claims.get("gh_ep", 0))
    except (TypeError, ValueError):
        return -1


def epoch_condition(epoch: int) -> str:
    """Condition on #ep (the item's epoch attribute) against :ep."""
    return "(attribute_not_exists(#ep) OR #ep = :ep)" if epoch == 0 else "#ep = :ep"


def _refuse(charge: limiter.Charge, who: str) -> None:
    """A 429 when the limits refused the write; `who` is verified by then (the token's
    signature checked, or the key's hash matched in the same write), so the breach
    statistics may name it."""
    if charge.quota.exceeded:
        limiter.name_breach(who)
        raise RateLimited(charge.quota.retry_after, charge.quota.headers())


def _stale_extras(item: dict[str, Any], now: float) -> set[str]:
    window = get_settings().signature_window
    oldest_day = clock.day(now - USAGE_KEEP_DAYS * 86400)
    stale = set()
    for name, value in item.items():
        if name.startswith("sg_") and float(value) < now - 2 * window:
            stale.add(name)
        elif name.startswith("rv_") and float(value) < now:
            stale.add(name)
        elif name.startswith("u_") and name[2:12] < oldest_day:
            stale.add(name)
    return stale


def from_bearer(token: str, issuer: str) -> Caller:
    claims = tokens.verify(token, issuer)
    kind = claims.get("gh_kind", "client")
    pk, sk = principal_key(kind, str(claims["sub"]))
    epoch = session_epoch_of(claims)
    names = {"#active": "active", "#rj": revocation_attr(str(claims["jti"])),
             "#ep": SESSION_EPOCH}
    condition = ("attribute_exists(PK) AND #active = :true AND attribute_not_exists(#rj) "
                 f"AND {epoch_condition(epoch)}")
    values: dict[str, Any] = {":true": True, ":ep": epoch}
    if kind == "client":
        # A client lives within its owner's current rights (propagated onto its item).
        names["#oa"] = "ownerActive"
        condition += " AND #oa = :true"
    if claims.get("sid"):
        names["#rs"] = revocation_attr(str(claims["sid"]))
        condition += " AND attribute_not_exists(#rs)"
    charge = limiter.charge(pk, sk, hour_limit="hourLimit",
                              burst_limit=get_settings().burst_limit, condition=condition,
                              names=names, values=values)
    if not charge.allowed:
        old = charge.item
        if (old is None or not old.get("active") or names["#rj"] in old
                or ("#rs" in names and names["#rs"] in old)
                or int(old.get(SESSION_EPOCH, 0)) != epoch):
            raise AuthenticationFailed("The access token has been revoked.")
        if kind == "client" and old.get("ownerActive") is not True:
            raise AuthenticationFailed("The client's owner is no longer active.")
        _refuse(charge, f"{kind}:{claims['sub']}")
        raise AuthenticationFailed("The access token is not valid.")
    item = charge.item or {}
    limiter.note_stale(pk, _stale_extras(item, clock.now()))
    principal = Principal(
        kind=kind, id=str(claims["sub"]), owner=str(item.get("owner") or claims["sub"]),
        scopes=_confined(bearer_scopes(kind, claims, item), bool(item.get("sandbox"))),
        tier=str(item.get("tier", "free")), hour_limit=charge.quota.hour_limit,
        sandbox=bool(item.get("sandbox")), claims=claims)
    return Caller(principal, charge.quota)


def _confined(scopes: frozenset[str], sandbox: bool) -> frozenset[str]:
    return sandboxed(scopes) if sandbox else scopes


def bearer_scopes(kind: str, claims: dict[str, Any], item: dict[str, Any]) -> frozenset[str]:
    """A token's scopes as they stand now: within its client's current scopes and that
    client's owner's, or within its user's current scopes (narrowing a client or a role
    takes effect on the next request, not at the token's expiry)."""
    granted = frozenset(str(claims.get("scope", "")).split())
    if kind == "client":
        return within(within(granted, item.get("scopes") or []), item.get("ownerScopes") or [])
    if "scopes" in item:
        return within(granted, user_scopes(item))
    return granted


def from_api_key(key: str, ip: str, method: str, path_qs: str, body: bytes,
                 timestamp: str, signature: str) -> Caller:
    parsed = credentials.parse_api_key(key)
    if parsed is None:
        raise AuthenticationFailed("The API key is not valid.", error="")
    key_id, _sandbox = parsed
    now = clock.now()
    window = get_settings().signature_window
    names = {"#st": "status", "#kh": "keyHash", "#ph": "prevHash", "#pe": "prevHashExpiresAt",
             "#ex": "expiresAtEpoch"}
    values: dict[str, Any] = {":active": "active", ":h": credentials.hash_secret(key),
                              ":now": int(now)}
    condition = ("attribute_exists(PK) AND #st = :active AND "
                 "(#kh = :h OR (#ph = :h AND #pe > :now)) AND #ex > :now AND #oa = :true")
    names["#oa"] = "ownerActive"
    values[":true"] = True
    sig_attr = ""
    if signature or timestamp:
        try:
            ts = int(timestamp)
        except ValueError as exc:
            raise AuthenticationFailed("X-Timestamp must be unix seconds.", error="") from exc
        if abs(now - ts) > window:
            raise AuthenticationFailed("The request timestamp is outside the allowed window.",
                                       error="")
        if not signature.startswith("sha256=") or len(signature) != 71:
            raise AuthenticationFailed("X-API-Signature is malformed.", error="")
        # One use per signature: the nonce lives on the key's item until the window ends.
        sig_attr = "sg_" + signature[7:39]
        names["#sg"] = sig_attr
        condition += " AND attribute_not_exists(#sg)"
    day = clock.day(now)
    names["#ur"] = usage_attr(day, "r")
    set_exprs = ["#ur = if_not_exists(#ur, :zero) + :one"]
    sets: dict[str, Any] = {"lastUsedAt": clock.iso(now)}
    if sig_attr:
        sets[sig_attr] = int(now)
    pk, sk = principal_key("api_key", key_id)
    charge = limiter.charge(pk, sk, hour_limit="hourLimit",
                              burst_limit=get_settings().burst_limit, condition=condition,
                              names=names, values=values, sets=sets,
                              set_exprs=tuple(set_exprs))
    if not charge.allowed:
        old = charge.item
        if old is None or not _key_matches(old, values[":h"], now):
            raise AuthenticationFailed("The API key is not valid.", error="")
        if old.get("status") != "active":
            raise AuthenticationFailed("The API key has been revoked.", error="")
        if int(old.get("expiresAtEpoch", 0)) <= now:
            raise AuthenticationFailed("The API key has expired.", error="")
        if old.get("ownerActive") is not True:
            raise AuthenticationFailed("The API key's owner is no longer active.", error="")
        if sig_attr and sig_attr in old:
            raise AuthenticationFailed("This signature has already been used (replay).",
                                       error="")
        _refuse(charge, f"api_key:{key_id}")
        raise AuthenticationFailed("The API key is not valid.", error="")
    item = charge.item or {}
    limiter.note_stale(pk, _stale_extras(item, now))
    if item.get("requireSignature") and not sig_attr:
        raise AuthenticationFailed("This key requires signed requests (X-Timestamp and "
                                   "X-API-Signature).", error="")
    if sig_attr:
        # During a rotation's grace period the old key signs with the old secret.
        sealed = item["secretEnc"]
        if (item.get("prevSecretEnc")
                and not credentials.same(str(item.get("keyHash", "")), values[":h"])):
            sealed = item["prevSecretEnc"]
        secret = keyring.decrypt(str(sealed))
        expected = credentials.request_signature(secret, timestamp, method, path_qs, body)
        if not credentials.same(expected, signature):
            raise AuthenticationFailed("The request signature does not match.", error="")
    allow = item.get("ipAllowlist") or []
    if allow and not ip_allowed(ip, allow):
        raise Forbidden("This API key may not be used from this address.")
    principal = Principal(
        kind="api_key", id=key_id, owner=str(item.get("owner", "")),
        scopes=_confined(delegated_scopes(item), bool(item.get("sandbox"))),
        tier=str(item.get("tier", "free")),
        hour_limit=charge.quota.hour_limit, sandbox=bool(item.get("sandbox")),
        claims={"keyId": key_id},
        restrictions={"requireSignature": bool(item.get("requireSignature")),
                      "ipAllowlist": list(item.get("ipAllowlist") or []),
                      "expiresAtEpoch": int(item.get("expiresAtEpoch", 0))})
    return Caller(principal, charge.quota)


def _key_matches(item: dict[str, Any], hashed: str, now: float) -> bool:
    if credentials.same(str(item.get("keyHash", "")), hashed):
        return True
    return credentials.same(str(item.get("prevHash", "")), hashed) and float(
        item.get("prevHashExpiresAt", 0)) > now


def ip_allowed(ip: str, allowlist: list[str]) -> bool:
    import ipaddress

    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in allowlist:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def anonymous(ip: str) -> Caller:
    """Counts one request (or one credential check) against the IP, in one conditional
    write that refuses (429) once its budget is spent."""
    settings = get_settings()
    charge = limiter.charge_ip(ip, settings.anonymous_hourly_limit, settings.burst_limit)
    if not charge.allowed:
        raise RateLimited(charge.quota.retry_after, charge.quota.headers())
    return Caller(None, charge.quota)


def spend_attempt(ip: str) -> Quota:
    """Before a password or secret is checked: the attempt is charged to the IP first,
    so an IP out of attempts gets no more guesses (a right guess past the limit is
    refused too), and concurrent guesses cannot all pass a read of the counter. Give a
    successful attempt back with `limiter.refund_ip`."""
    quota = anonymous(ip).quota
    assert quota is not None
    return quota


def count_error(principal: Principal) -> None:
    """Usage per day for API keys: errors are known only after the response."""
    if principal.kind != "api_key":
        return
    from chalicelib.store import table as store

    name = usage_attr(clock.day(), "e")
    store.table().update_item(
        Key={"PK": f"APIKEY#{principal.id}", "SK": "APIKEY"},
        UpdateExpression="SET #e = if_not_exists(#e, :zero) + :one",
        ConditionExpression="attribute_exists(PK)",
        ExpressionAttributeNames={"#e": name}, ExpressionAttributeValues={":zero": 0, ":one": 1})
