"""Authenticate a request and charge its rate limit in the same DynamoDB write.

Bearer JWT: verified locally; then one conditional update on the principal's item
(client or user: sessions/subjects.py) checks it still exists and is active, that
neither the token (jti) nor its refresh family (sid) is revoked, that the limits hold,
and counts the request. API key: one conditional update on the key's item
(api_keys/repo.py) checks hash (or the previous hash during a rotation's grace period),
status, expiry, the signature's freshness, and the limits; it answers the item, whose
encrypted signing secret then checks the signature. What each item holds and how it
reads as a Principal is its repository's; the guard runs the checks in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.auth import attempts, credentials, keyring, limiter, tokens
from chalicelib.auth.api_keys import repo as keys
from chalicelib.auth.limiter import Quota
from chalicelib.auth.sessions import subjects
from chalicelib.core import clock
from chalicelib.core.errors import AuthenticationFailed, Forbidden, RateLimited
from chalicelib.core.principal import Principal
from chalicelib.core.settings import get_settings


@dataclass
class Caller:
    principal: Principal | None
    quota: Quota | None


def _refuse(charge: limiter.Charge, who: str) -> None:
    """A 429 when the limits refused the write; `who` is verified by then (the token's
    signature checked, or the key's hash matched in the same write), so the 429 may be
    counted against it."""
    if charge.quota.exceeded:
        raise RateLimited(charge.quota.retry_after, charge.quota.headers(), breach=who)


def from_bearer(token: str, issuer: str) -> Caller:
    claims = tokens.verify(token, issuer)
    subject = subjects.of_claims(claims)
    charge = subject.charge(claims)
    if not charge.allowed:
        reason = subject.refusal(charge.item, claims)
        if reason:
            raise AuthenticationFailed(reason)
        _refuse(charge, f"{subject.kind}:{claims['sub']}")
        raise AuthenticationFailed("The access token is not valid.")
    principal = subject.principal(claims, charge.item or {}, charge.quota.hour_limit)
    return Caller(principal, charge.quota)


def _signature_nonce(timestamp: str, signature: str, now: float) -> str:
    """The one-use part of a signed request's signature ("" for an unsigned request),
    once its timestamp is within the window and its form is right."""
    if not (signature or timestamp):
        return ""
    try:
        ts = int(timestamp)
    except ValueError as exc:
        raise AuthenticationFailed("X-Timestamp must be unix seconds.", error="") from exc
    if abs(now - ts) > get_settings().signature_window:
        raise AuthenticationFailed("The request timestamp is outside the allowed window.",
                                   error="")
    if not signature.startswith("sha256=") or len(signature) != 71:
        raise AuthenticationFailed("X-API-Signature is malformed.", error="")
    return signature[7:39]


def from_api_key(key: str, ip: str, method: str, path_qs: str, body: bytes,
                 timestamp: str, signature: str) -> Caller:
    parsed = credentials.parse_api_key(key)
    if parsed is None:
        raise AuthenticationFailed("The API key is not valid.", error="")
    key_id, _sandbox = parsed
    now = clock.now()
    nonce = _signature_nonce(timestamp, signature, now)
    hashed = credentials.hash_secret(key)
    charge = keys.charge(key_id, hashed, now, nonce)
    if not charge.allowed:
        reason = keys.refusal(charge.item, hashed, now, nonce)
        if reason:
            raise AuthenticationFailed(reason, error="")
        _refuse(charge, f"api_key:{key_id}")
        raise AuthenticationFailed("The API key is not valid.", error="")
    item = charge.item or {}
    principal = keys.principal(key_id, item, charge.quota.hour_limit)
    if principal.restrictions["requireSignature"] and not nonce:
        raise AuthenticationFailed("This key requires signed requests (X-Timestamp and "
                                   "X-API-Signature).", error="")
    if nonce:
        secret = keyring.decrypt(keys.signing_secret(item, hashed))
        expected = credentials.request_signature(secret, timestamp, method, path_qs, body)
        if not credentials.same(expected, signature):
            raise AuthenticationFailed("The request signature does not match.", error="")
    allow = principal.restrictions["ipAllowlist"]
    if allow and not ip_allowed(ip, allow):
        raise Forbidden("This API key may not be used from this address.")
    return Caller(principal, charge.quota)


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
    return Caller(None, attempts.charge(ip))


def count_error(principal: Principal) -> None:
    """Usage per day for API keys: errors are known only after the response."""
    if principal.kind == "api_key":
        keys.count_error(principal.id)
