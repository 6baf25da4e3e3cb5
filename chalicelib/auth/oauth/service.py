"""OAuth 2.0: client authentication, client credentials, refresh rotation with reuse
detection, revocation (RFC 7009), introspection (RFC 7662). Tokens themselves (of clients
and users alike) are issued, rotated and revoked in sessions/; clients' management:
clients.py."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from chalicelib.auth import attempts, credentials, limiter, tokens
from chalicelib.auth.oauth import repo
from chalicelib.auth.sessions import service as sessions
from chalicelib.auth.sessions.subjects import SESSION_EPOCH, kind_of
from chalicelib.core.errors import AuthenticationFailed, OAuthError, RateLimited
from chalicelib.core.scopes import expand

BASIC = {"WWW-Authenticate": 'Basic realm="gatehouse"'}


# -- client authentication ----------------------------------------------------------

def client_credentials_from(authorization: str, form_id: str | None,
                            form_secret: str | None) -> tuple[str, str] | None:
    """HTTP Basic (RFC 6749 §2.3.1, form-urlencoded parts) or the body; not both."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "Use HTTP Basic or client_secret_post.", 401,
                             dict(BASIC))
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
            cid, sep, secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            sep = ""
        if not sep:
            raise OAuthError("invalid_client", "Malformed Basic credentials.", 401, dict(BASIC))
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
                         dict(BASIC))
    client_id, secret = creds
    hashed = credentials.hash_secret(secret)
    failed = OAuthError("invalid_client", "Client authentication failed.", 401, dict(BASIC))
    if not charge:
        item = repo.client_item(client_id)
        if (item is None or not item.get("active")
                or not credentials.same(str(item.get("secretHash", "")), hashed)):
            attempts.charge(ip)  # failed credentials count against the caller's IP
            raise failed
        return item
    attempt = attempts.charge(ip)
    result = repo.charge_with_secret(client_id, hashed)
    item, quota = result.item, result.quota
    if item is None or not item.get("active") or not credentials.same(
            str(item.get("secretHash", "")), hashed):
        raise failed
    limiter.refund_ip(ip, attempt)
    if not result.allowed:
        raise RateLimited(quota.retry_after, quota.headers(), breach=f"client:{client_id}")
    return item


# -- grants ---------------------------------------------------------------------------

def client_credentials_grant(client: dict[str, Any], scope: str | None,
                             issuer: str) -> dict[str, Any]:
    current = repo.effective_scopes(client)
    if not current:
        raise OAuthError("invalid_client", "The client's owner is no longer active.", 401,
                         dict(BASIC))
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
    return sessions.issue(issuer=issuer, kind="client", subject=client["clientId"],
                          client_id=client["clientId"], scopes=scopes,
                          epoch=int(client.get(SESSION_EPOCH, 0)))


def refresh_grant(refresh: str, issuer: str, client: dict[str, Any],
                  scope: str | None = None) -> dict[str, Any]:
    """Rotates a refresh token the client was issued."""
    return sessions.refresh_grant(refresh, issuer, kind="client",
                                  client_id=str(client["clientId"]), scope=scope)


def revoke(token: str, issuer: str, client: dict[str, Any] | None) -> None:
    """RFC 7009: an authenticated client revokes only its own tokens; a caller holding a
    token may always revoke it."""
    sessions.revoke(token, issuer, str(client["clientId"]) if client else None)


# -- introspection --------------------------------------------------------------------

def introspect(token: str, issuer: str, caller: tuple[str, str],
               may_all: bool) -> dict[str, Any]:
    """RFC 7662: {"active": false} for anything not currently valid, and for any token
    that is not the caller's own unless the caller may introspect all (`may_all`): a
    token's scopes and subject are not for every authenticated party (§2.1, §4)."""
    inactive: dict[str, Any] = {"active": False}
    if token.startswith(sessions.REFRESH_PREFIX):
        found = sessions.refresh_token(token)
        if found is None or found.used:
            return inactive
        if not may_all and (found.kind, found.subject) != caller:
            return inactive
        scopes = sessions.refresh_scopes_now(found)
        if not scopes:
            return inactive
        return {"active": True, "token_type": "refresh_token", "scope": " ".join(scopes),
                "client_id": found.client_id, "sub": found.subject,
                "exp": found.ttl, "iss": found.issuer or issuer}
    try:
        claims = tokens.verify(token, issuer)
    except AuthenticationFailed:
        return inactive
    if not may_all and (kind_of(claims), str(claims["sub"])) != caller:
        return inactive
    subject = sessions.live_subject(claims)
    if subject is None:
        return inactive
    answer = sessions.active_claims(claims)
    answer["scope"] = " ".join(sorted(sessions.token_scopes(claims, subject)))
    return answer
