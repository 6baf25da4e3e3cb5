"""RS256 access tokens per RFC 9068 and the JWKS that publishes their keys."""

from __future__ import annotations

import base64
import threading
from functools import lru_cache
from typing import Any

from chalicelib.auth import keyring
from chalicelib.core import clock, ids
from chalicelib.core.errors import AuthenticationFailed, TokenExpired

AUDIENCE = "gatehouse-api"
LEEWAY = 5  # seconds of clock skew tolerated on exp, nbf and iat
_lock = threading.Lock()
_last_forced = {"at": 0.0}


@lru_cache(maxsize=16)
def _private_key(pem: str) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(pem.encode(), password=None)


def _b64u_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def issue(*, issuer: str, subject: str, client_id: str, scopes: list[str], ttl: int,
          extra: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    import jwt

    ring = keyring.keyring()
    active = next(k for k in ring["signing"] if k["kid"] == ring["active"])
    now = clock.now_int()
    claims: dict[str, Any] = {
        "iss": issuer, "sub": subject, "aud": AUDIENCE, "iat": now, "nbf": now,
        "exp": now + ttl, "jti": ids.new_id("at"), "client_id": client_id,
        "scope": " ".join(sorted(scopes)),
    }
    claims.update(extra or {})
    token = jwt.encode(claims, _private_key(active["pem"]), algorithm="RS256",
                       headers={"kid": active["kid"], "typ": "at+jwt"})
    return token, claims


def jwks() -> dict[str, Any]:
    keys = []
    for key in keyring.published_keys():
        numbers = _private_key(key["pem"]).public_key().public_numbers()
        keys.append({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": key["kid"],
                     "n": _b64u_int(numbers.n), "e": _b64u_int(numbers.e)})
    return {"keys": keys}


def _public_key(kid: str) -> Any:
    for force in (False, True):
        if force:
            # An unknown kid may be a key rotated in by another container: re-read the
            # secret, at most once a minute so forged kids cannot hammer Secrets Manager.
            with _lock:
                if clock.now() - _last_forced["at"] < 60:
                    break
                _last_forced["at"] = clock.now()
            keyring.keyring(force=True)
        for key in keyring.published_keys():
            if key["kid"] == kid:
                return _private_key(key["pem"]).public_key()
    return None


def verify(token: str, issuer: str) -> dict[str, Any]:
    """Signature, algorithm (RS256 only: no `none`, no HS256 with the public key),
    type, issuer, audience and lifetime. Revocation is checked by the caller."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed("The access token is malformed.") from exc
    typ = header.get("typ")
    if header.get("alg") != "RS256" or not isinstance(typ, str) or typ.lower() not in (
            "at+jwt", "application/at+jwt"):
        raise AuthenticationFailed("The access token is not valid.")
    key = _public_key(str(header.get("kid", "")))
    if key is None:
        raise AuthenticationFailed("The access token is not valid.")
    try:
        # Lifetimes are checked below against the app's clock (the one tests move).
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=issuer,
            options={"require": ["exp", "iat", "iss", "sub", "jti", "aud"],
                     "verify_exp": False, "verify_nbf": False, "verify_iat": False})
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed("The access token is not valid.") from exc
    now = clock.now()
    try:
        exp, iat = float(claims["exp"]), float(claims["iat"])
        nbf = float(claims.get("nbf", iat))
    except (TypeError, ValueError) as exc:
        raise AuthenticationFailed("The access token is not valid.") from exc
    if exp <= now - LEEWAY:
        raise TokenExpired()
    if iat > now + LEEWAY or nbf > now + LEEWAY:
        raise AuthenticationFailed("The access token is not yet valid.")
    return claims
