"""OAuth 2.0: clients, client credentials, refresh rotation with reuse detection,
revocation (RFC 7009), introspection (RFC 7662). Also issues users' tokens."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from chalicelib.auth import credentials, limiter, owners, tokens
from chalicelib.auth.guard import SESSION_EPOCH, principal_key, session_epoch_of
from chalicelib.auth.oauth import repo
from chalicelib.core import clock, ids
from chalicelib.core.errors import (
    AuthenticationFailed,
    OAuthError,
    RateLimited,
)
from chalicelib.core.scopes import expand
from chalicelib.core.settings import get_settings

REFRESH_PREFIX = "grt_"


def hour_limit_for(tier: str, custom: int | None) -> int:
    return int(custom) if custom else get_settings().tiers.get(tier, 100)


def effective_scopes(client: dict[str, Any]) -> frozenset[str]:
    """What the client may do now: nothing while switched off, else its scopes within
    its owner's current ones."""
    return owners.delegated_scopes(client) if client.get("active") else frozenset()


# -- client authentication ----------------------------------------------------------

def client_credentials_from(authorization: str, form_id: str | None,
                            form_secret: str | None) -> tuple[str, str] | None:
    """HTTP Basic (RFC 6749 §2.3.1, form-urlencoded parts) or the body; not both."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "Use HTTP Basic or client_secret_post.", 401,
                             {"WWW-Authenticate": 'Basic realm="gatehouse"'})
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
            cid, sep, secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            sep = ""
        if not sep:
            raise OAuthError("invalid_client", "Malformed Basic credentials.", 401,
                             {"WWW-Authenticate": 'Basic realm="gatehouse"'})
        if form_secret:
            raise OAuthError("invalid_request", "Use one client authentication method.")
        return unquote(cid), unquote(secret)
    if form_id and form_secret:
        return form_id, form_secret
    return None


def authenticate_client(creds: tuple[str, str] | None, ip: str,
                        charge: bool = True) -> dict[str, Any]:
    """Checks the client's secret. With `charge` (the token endpoints, which the edge does
    not limit), the check is charged to the caller's IP before it runs (429 once the IP's
    budget is spent, whatever the secret; given back when the secret is right), and the
    request counts against the client's limits in the same write that checks the secret.
    Without it, the edge has charged the IP already."""
    if creds is None:
        raise OAuthError("invalid_client", "Client authentication is required.", 401,
                         {"WWW-Authenticate": 'Basic realm="gatehouse"'})
    client_id, secret = creds
    hashed = credentials.hash_secret(secret)
    failed = OAuthError("invalid_client", "Client authentication failed.", 401,
                        {"WWW-Authenticate": 'Basic realm="gatehouse"'})
    from chalicelib.auth.guard import anonymous, spend_attempt

    if not charge:
        item = repo.client_item(client_id)
        if (item is None or not item.get("active")
                or not credentials.same(str(item.get("secretHash", "")), hashed)):
            anonymous(ip)  # failed credentials count against the caller's IP
            raise failed
        return item
    attempt = spend_attempt(ip)
    # The secret is part of the write's condition: a wrong secret never spends the
    # client's quota (only the caller's IP pays for it).
    result = limiter.charge(f"CLIENT#{client_id}", "CLIENT", hour_limit="hourLimit",
                              burst_limit=get_settings().burst_limit,
                              condition="attribute_exists(PK) AND active = :true "
                                        "AND secretHash = :sh",
                              values={":true": True, ":sh": hashed})
    item, quota = result.item, result.quota
    if item is None or not item.get("active") or not credentials.same(
            str(item.get("secretHash", "")), hashed):
        raise failed
    limiter.refund_ip(ip, attempt)
    if not result.allowed:
        limiter.name_breach(f"client:{client_id}")
        raise RateLimited(quota.retry_after, quota.headers())
    return item


# -- tokens ---------------------------------------------------------------------------

def token_response(*, issuer: str, kind: str, subject: str, client_id: str, scopes: list[str],
                   family: str | None = None, epoch: int = 0) -> dict[str, Any]:
    settings = get_settings()
    ttl = settings.access_token_ttl if kind == "client" else settings.user_access_token_ttl
    family = family or ids.new_id("fam")
    access, _claims = tokens.issue(issuer=issuer, subject=subject, client_id=client_id,
                                   scopes=scopes, ttl=ttl,
                                   extra=_token_extra(kind, family, epoch))
    refresh = REFRESH_PREFIX + ids.random_token(48)
    now = clock.now_int()
    repo.put_refresh(credentials.hash_secret(refresh), {
        "family": family, "kind": kind, "subject": subject, "clientId": client_id,
        "scopes": scopes, "used": False, "issuer": issuer, "createdAt": clock.iso(),
        "epoch": epoch, "ttl": now + settings.refresh_token_ttl})
    return {"access_token": access, "token_type": "Bearer", "expires_in": ttl,
            "refresh_token": refresh, "refresh_expires_in": settings.refresh_token_ttl,
            "scope": " ".join(sorted(scopes))}


def client_credentials_grant(client: dict[str, Any], scope: str | None,
                             issuer: str) -> dict[str, Any]:
    current = effective_scopes(client)
    if not current:
        raise OAuthError("invalid_client", "The client's owner is no longer active.", 401,
                         {"WWW-Authenticate": 'Basic realm="gatehouse"'})
    allowed = expand(current)
    if scope:
        requested = set(scope.split())
        if not requested <= allowed:
            raise OAuthError("invalid_scope",
                             "Requested scope exceeds the client's: "
                             + " ".join(sorted(requested - allowed)))
        scopes = sorted(requested)
    else:
        scopes = sorted(current)
    return token_response(issuer=issuer, kind="client", subject=client["clientId"],
                          client_id=client["clientId"], scopes=scopes,
                          epoch=int(client.get(SESSION_EPOCH, 0)))


def _token_extra(kind: str, family: str, epoch: int) -> dict[str, Any]:
    extra: dict[str, Any] = {"gh_kind": kind, "sid": family}
    if epoch:
        extra["gh_ep"] = epoch
    return extra


def _current_scopes(kind: str, subject: dict[str, Any]) -> frozenset[str]:
    """What the principal may hold now (its scopes may have shrunk since the grant)."""
    if kind == "client":
        return expand(effective_scopes(subject))
    return owners.user_scopes(subject)


def refresh_grant(refresh: str, issuer: str, *, client: dict[str, Any] | None,
                  scope: str | None = None, kind: str = "client") -> dict[str, Any]:
    """Rotates a refresh token. A token presented twice revokes its whole family."""
    invalid = OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    if not refresh.startswith(REFRESH_PREFIX):
        raise invalid
    old_hash = credentials.hash_secret(refresh)
    item = repo.refresh_item(old_hash)
    if item is None or item.get("kind") != kind:
        raise invalid
    if client is not None and item.get("clientId") != client["clientId"]:
        raise invalid
    subject_pk, subject_sk = principal_key(item["kind"], item["subject"])
    settings = get_settings()
    if item.get("used"):
        repo.revoke_family(item["family"], subject_pk, subject_sk, _access_ttl(item["kind"]))
        raise OAuthError("invalid_grant", "The refresh token was already used; its whole "
                         "family is now revoked.")
    current = refresh_scopes_now(item)
    if current is None:
        raise invalid
    scopes, epoch = current, int(item.get("epoch", 0))
    if scope:
        requested = set(scope.split())
        if not requested <= set(scopes):
            raise OAuthError("invalid_scope", "A refresh cannot widen the scope.")
        scopes = sorted(requested)
    if not scopes:
        raise invalid
    access_ttl = _access_ttl(item["kind"])
    access, _claims = tokens.issue(issuer=issuer, subject=item["subject"],
                                   client_id=item["clientId"], scopes=scopes, ttl=access_ttl,
                                   extra=_token_extra(item["kind"], item["family"], epoch))
    new_refresh = REFRESH_PREFIX + ids.random_token(48)
    now = clock.now_int()
    rotated = repo.rotate_refresh(old_hash, credentials.hash_secret(new_refresh), {
        "family": item["family"], "kind": item["kind"], "subject": item["subject"],
        "clientId": item["clientId"], "scopes": scopes, "used": False, "issuer": issuer,
        "createdAt": clock.iso(), "epoch": epoch,
        "ttl": min(int(item["ttl"]), now + settings.refresh_token_ttl)
        if kind == "user" else now + settings.refresh_token_ttl})
    if not rotated:
        # Lost a race with another use of the same token: that is a replay too.
        repo.revoke_family(item["family"], subject_pk, subject_sk, access_ttl)
        raise OAuthError("invalid_grant", "The refresh token was already used; its whole "
                         "family is now revoked.")
    return {"access_token": access, "token_type": "Bearer", "expires_in": access_ttl,
            "refresh_token": new_refresh, "refresh_expires_in": settings.refresh_token_ttl,
            "scope": " ".join(sorted(scopes))}


def _access_ttl(kind: str) -> int:
    settings = get_settings()
    return settings.access_token_ttl if kind == "client" else settings.user_access_token_ttl


def revoke(token: str, issuer: str, client: dict[str, Any] | None) -> None:
    """RFC 7009: unknown or invalid tokens are not an error. An authenticated client may
    revoke only its own tokens; a caller holding a token may always revoke it."""
    if token.startswith(REFRESH_PREFIX):
        item = repo.refresh_item(credentials.hash_secret(token))
        if item is None or (client is not None and item.get("clientId") != client["clientId"]):
            return
        pk, sk = principal_key(item["kind"], item["subject"])
        repo.revoke_family(item["family"], pk, sk, _access_ttl(item["kind"]))
        return
    claims = _claims_ignoring_expiry(token, issuer)
    if claims is None:
        return
    if client is not None and claims.get("client_id") != client["clientId"]:
        return
    pk, sk = principal_key(claims.get("gh_kind", "client"), str(claims["sub"]))
    repo.mark_revoked(pk, sk, str(claims["jti"]), int(claims["exp"]) + 60)


def end_session(access_token: str, issuer: str) -> None:
    """Logout with an access token: it and its refresh family (its session) are revoked;
    a token that is not valid ends nothing."""
    claims = _claims_ignoring_expiry(access_token, issuer)
    if claims is None:
        return
    pk, sk = principal_key(claims.get("gh_kind", "client"), str(claims["sub"]))
    kind = str(claims.get("gh_kind", "client"))
    if claims.get("sid"):
        repo.revoke_family(str(claims["sid"]), pk, sk, _access_ttl(kind))
    repo.mark_revoked(pk, sk, str(claims["jti"]), int(claims["exp"]) + 60)


def _claims_ignoring_expiry(token: str, issuer: str) -> dict[str, Any] | None:
    from chalicelib.core.errors import TokenExpired

    try:
        return tokens.verify(token, issuer)
    except TokenExpired:
        return None  # already dead; nothing to revoke
    except AuthenticationFailed:
        return None


def introspect(token: str, issuer: str, caller: tuple[str, str],
               may_all: bool) -> dict[str, Any]:
    """RFC 7662: {"active": false} for anything not currently valid, and for any token
    that is not the caller's own unless the caller may introspect all (`may_all`): a
    token's scopes and subject are not for every authenticated party (§2.1, §4)."""
    inactive: dict[str, Any] = {"active": False}
    if token.startswith(REFRESH_PREFIX):
        item = repo.refresh_item(credentials.hash_secret(token))
        if item is None or item.get("used"):
            return inactive
        if not may_all and (item.get("kind"), item.get("subject")) != caller:
            return inactive
        scopes = refresh_scopes_now(item)
        if not scopes:
            return inactive
        return {"active": True, "token_type": "refresh_token", "scope": " ".join(scopes),
                "client_id": item["clientId"], "sub": item["subject"],
                "exp": int(item["ttl"]), "iss": item.get("issuer", issuer)}
    try:
        claims = tokens.verify(token, issuer)
    except AuthenticationFailed:
        return inactive
    if not may_all and (claims.get("gh_kind", "client"), str(claims["sub"])) != caller:
        return inactive
    subject = live_subject(claims)
    if subject is None:
        return inactive
    answer = active_claims(claims)
    from chalicelib.auth.guard import bearer_scopes

    answer["scope"] = " ".join(sorted(bearer_scopes(answer["principal_type"], claims,
                                                    subject)))
    return answer


def refresh_scopes_now(item: dict[str, Any]) -> list[str] | None:
    """What a refresh token would grant now (for a refresh, and for introspection):
    None if its family is revoked or its subject is gone, inactive or in a later session
    epoch (a password change ends refresh tokens too); else its scopes within the
    subject's current ones. Family and subject are read in one BatchGetItem."""
    from chalicelib.store import table as store

    subject_key = principal_key(item["kind"], item["subject"])
    family = repo.family_key(item["family"])
    found = store.batch_get([family, subject_key], consistent=True)
    subject = found.get(subject_key)
    if (family in found or subject is None or not subject.get("active", True)
            or int(subject.get(SESSION_EPOCH, 0)) != int(item.get("epoch", 0))):
        return None
    return sorted(set(item["scopes"]) & _current_scopes(item["kind"], subject))


def live_subject(claims: dict[str, Any]) -> dict[str, Any] | None:
    """The token's principal item if the token is still good (not revoked, same session
    epoch, principal active and, for a client, its owner too); else None."""
    from chalicelib.auth.guard import revocation_attr
    from chalicelib.store import table as store

    pk, sk = principal_key(claims.get("gh_kind", "client"), str(claims["sub"]))
    subject = store.get(pk, sk, consistent=True)
    if subject is None or not subject.get("active"):
        return None
    if claims.get("gh_kind", "client") == "client" and subject.get("ownerActive") is not True:
        return None
    if revocation_attr(str(claims["jti"])) in subject:
        return None
    if claims.get("sid") and revocation_attr(str(claims["sid"])) in subject:
        return None
    if int(subject.get(SESSION_EPOCH, 0)) != session_epoch_of(claims):
        return None
    return subject


def active_claims(claims: dict[str, Any]) -> dict[str, Any]:
    return {"active": True, "token_type": "Bearer", "scope": claims.get("scope", ""),
            "client_id": claims.get("client_id"), "sub": claims["sub"], "exp": claims["exp"],
            "iat": claims["iat"], "nbf": claims.get("nbf", claims["iat"]), "iss": claims["iss"],
            "aud": claims["aud"], "jti": claims["jti"],
            "principal_type": claims.get("gh_kind", "client")}
