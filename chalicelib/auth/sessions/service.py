"""Tokens of any subject (an OAuth client, a user): issuing an access and refresh token
pair, rotating refresh tokens with reuse detection, revoking tokens and whole sessions
(RFC 7009), and whether a token still stands. Client credentials and the users' login
both issue here; the subject's item is looked up by its kind (sessions/subjects.py)."""

from __future__ import annotations

from typing import Any

from chalicelib.auth import credentials, tokens
from chalicelib.auth.sessions import repo
from chalicelib.auth.sessions.repo import RefreshToken
from chalicelib.auth.sessions.subjects import granted, kind_of, of_claims, of_kind
from chalicelib.core import clock, ids
from chalicelib.core.errors import AuthenticationFailed, OAuthError
from chalicelib.core.settings import get_settings

REFRESH_PREFIX = "grt_"
REPLAYED = "The refresh token was already used; its whole family is now revoked."


def access_ttl(kind: str) -> int:
    settings = get_settings()
    return settings.access_token_ttl if kind == "client" else settings.user_access_token_ttl


def _token_extra(kind: str, family: str, epoch: int) -> dict[str, Any]:
    extra: dict[str, Any] = {"gh_kind": kind, "sid": family}
    if epoch:
        extra["gh_ep"] = epoch
    return extra


def _answer(access: str, ttl: int, refresh: str, scopes: list[str]) -> dict[str, Any]:
    return {"access_token": access, "token_type": "Bearer", "expires_in": ttl,
            "refresh_token": refresh, "refresh_expires_in": get_settings().refresh_token_ttl,
            "scope": " ".join(sorted(scopes))}


def issue(*, issuer: str, kind: str, subject: str, client_id: str, scopes: list[str],
          family: str | None = None, epoch: int = 0) -> dict[str, Any]:
    """A new session: an access token and a refresh token (stored hashed), answered in
    the token endpoint's shape."""
    settings = get_settings()
    ttl = access_ttl(kind)
    family = family or ids.new_id("fam")
    access, _claims = tokens.issue(issuer=issuer, subject=subject, client_id=client_id,
                                   scopes=scopes, ttl=ttl,
                                   extra=_token_extra(kind, family, epoch))
    refresh = REFRESH_PREFIX + ids.random_token(48)
    repo.put_refresh(credentials.hash_secret(refresh), RefreshToken(
        family=family, kind=kind, subject=subject, client_id=client_id, scopes=scopes,
        issuer=issuer, created_at=clock.iso(), epoch=epoch,
        ttl=clock.now_int() + settings.refresh_token_ttl))
    return _answer(access, ttl, refresh, scopes)


def refresh_grant(refresh: str, issuer: str, *, kind: str, client_id: str | None = None,
                  scope: str | None = None) -> dict[str, Any]:
    """Rotates a refresh token of a `kind` subject (issued to `client_id`, when given). A
    token presented twice revokes its whole family."""
    invalid = OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    if not refresh.startswith(REFRESH_PREFIX):
        raise invalid
    old_hash = credentials.hash_secret(refresh)
    old = repo.refresh_token(old_hash)
    if old is None or old.kind != kind:
        raise invalid
    if client_id is not None and old.client_id != client_id:
        raise invalid
    subject_key = of_kind(old.kind).key(old.subject)
    ttl = access_ttl(old.kind)
    if old.used:
        repo.revoke_family(old.family, subject_key, ttl)
        raise OAuthError("invalid_grant", REPLAYED)
    scopes = refresh_scopes_now(old)
    if scopes is None:
        raise invalid
    if scope:
        requested = set(scope.split())
        if not requested <= set(scopes):
            raise OAuthError("invalid_scope", "A refresh cannot widen the scope.")
        scopes = sorted(requested)
    if not scopes:
        raise invalid
    access, _claims = tokens.issue(issuer=issuer, subject=old.subject,
                                   client_id=old.client_id, scopes=scopes, ttl=ttl,
                                   extra=_token_extra(old.kind, old.family, old.epoch))
    new_refresh = REFRESH_PREFIX + ids.random_token(48)
    longest = clock.now_int() + get_settings().refresh_token_ttl
    # A user's session ends when its first refresh token would have: rotation does not
    # extend a login.
    rotated = repo.rotate(old_hash, credentials.hash_secret(new_refresh), RefreshToken(
        family=old.family, kind=old.kind, subject=old.subject, client_id=old.client_id,
        scopes=scopes, issuer=issuer, created_at=clock.iso(), epoch=old.epoch,
        ttl=min(old.ttl, longest) if kind == "user" else longest))
    if not rotated:
        # Lost a race with another use of the same token: that is a replay too.
        repo.revoke_family(old.family, subject_key, ttl)
        raise OAuthError("invalid_grant", REPLAYED)
    return _answer(access, ttl, new_refresh, scopes)


def refresh_scopes_now(token: RefreshToken) -> list[str] | None:
    """What a refresh token would grant now (for a refresh, and for introspection):
    None if its family is revoked or its subject is gone, inactive or in a later session
    epoch (a password change ends refresh tokens too); else its scopes within the
    subject's current ones. Family and subject are read in one BatchGetItem."""
    kind = of_kind(token.kind)
    revoked, item = repo.family_and_subject(token.family, kind.key(token.subject))
    if revoked or item is None or not kind.refreshable(item, token.epoch):
        return None
    return sorted(set(token.scopes) & kind.refresh_scopes(item))


def refresh_token(refresh: str) -> RefreshToken | None:
    if not refresh.startswith(REFRESH_PREFIX):
        return None
    return repo.refresh_token(credentials.hash_secret(refresh))


def revoke(token: str, issuer: str, client_id: str | None = None) -> None:
    """RFC 7009: unknown or invalid tokens are not an error. With `client_id` (an
    authenticated client), only that client's tokens; a caller holding a token may
    always revoke it."""
    if token.startswith(REFRESH_PREFIX):
        found = refresh_token(token)
        if found is None or (client_id is not None and found.client_id != client_id):
            return
        repo.revoke_family(found.family, of_kind(found.kind).key(found.subject),
                           access_ttl(found.kind))
        return
    claims = claims_ignoring_expiry(token, issuer)
    if claims is None:
        return
    if client_id is not None and claims.get("client_id") != client_id:
        return
    repo.mark_revoked(of_claims(claims).key(str(claims["sub"])), str(claims["jti"]),
                      int(claims["exp"]) + 60)


def end_session(access_token: str, issuer: str) -> None:
    """Logout with an access token: it and its refresh family (its session) are revoked;
    a token that is not valid ends nothing."""
    claims = claims_ignoring_expiry(access_token, issuer)
    if claims is None:
        return
    kind = kind_of(claims)
    subject_key = of_kind(kind).key(str(claims["sub"]))
    if claims.get("sid"):
        repo.revoke_family(str(claims["sid"]), subject_key, access_ttl(kind))
    repo.mark_revoked(subject_key, str(claims["jti"]), int(claims["exp"]) + 60)


def claims_ignoring_expiry(token: str, issuer: str) -> dict[str, Any] | None:
    """The claims of a token of ours, None for an expired one (already dead: nothing to
    revoke) or one that is not valid."""
    try:
        return tokens.verify(token, issuer)
    except AuthenticationFailed:  # TokenExpired included
        return None


def live_subject(claims: dict[str, Any]) -> dict[str, Any] | None:
    """The token's principal item if the token is still good (not revoked, same session
    epoch, principal active and, for a client, its owner too); else None."""
    kind = of_claims(claims)
    item = kind.read(str(claims["sub"]))
    return item if kind.stands(item, claims) else None


def token_scopes(claims: dict[str, Any], item: dict[str, Any]) -> frozenset[str]:
    """A token's scopes as they stand now, by its subject's item."""
    return of_claims(claims).token_scopes(granted(claims), item)


def active_claims(claims: dict[str, Any]) -> dict[str, Any]:
    return {"active": True, "token_type": "Bearer", "scope": claims.get("scope", ""),
            "client_id": claims.get("client_id"), "sub": claims["sub"], "exp": claims["exp"],
            "iat": claims["iat"], "nbf": claims.get("nbf", claims["iat"]), "iss": claims["iss"],
            "aud": claims["aud"], "jti": claims["jti"],
            "principal_type": claims.get("gh_kind", "client")}
