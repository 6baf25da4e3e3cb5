"""Key material from Secrets Manager: RS256 signing keys (with rotation) and the
data-encryption key for secrets kept at rest. Never in code or config files.

Secret JSON: {"active": kid, "signing": [{"kid", "pem", "createdAt", "retiredAt"?}],
              "dek": base64(32 bytes)}
A rotated-out key stays published in the JWKS until every token it signed has expired.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any

from chalicelib.core import aws, clock, ids
from chalicelib.core.settings import get_settings

_CACHE_SECONDS = 300
_lock = threading.Lock()
_cache: dict[str, Any] = {"at": 0.0, "ring": None}


def _fetch() -> dict[str, Any]:
    sm = aws.client("secretsmanager")
    raw = sm.get_secret_value(SecretId=get_settings().secret_id)["SecretString"]
    ring = json.loads(raw or "{}")
    if not ring.get("signing") or not ring.get("dek"):
        raise RuntimeError("the key secret is not initialised; run the bootstrap")
    return dict(ring)


def keyring(force: bool = False) -> dict[str, Any]:
    now = clock.now()
    with _lock:
        if force or _cache["ring"] is None or now - _cache["at"] > _CACHE_SECONDS:
            _cache["ring"] = _fetch()
            _cache["at"] = now
        return dict(_cache["ring"])


def forget() -> None:
    with _lock:
        _cache["ring"] = None


def _new_signing_key() -> dict[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"kid": ids.random_b32(16), "pem": pem, "createdAt": clock.now_int()}


def _store(ring: dict[str, Any], create: bool) -> None:
    sm = aws.client("secretsmanager")
    body = json.dumps(ring)
    if create:
        sm.create_secret(Name=get_settings().secret_id, SecretString=body)
    else:
        sm.put_secret_value(SecretId=get_settings().secret_id, SecretString=body)
    forget()


def ensure() -> bool:
    """Initialise the secret if it is missing or empty. Answers True if it did."""
    sm = aws.client("secretsmanager")
    create = False
    try:
        current = json.loads(
            sm.get_secret_value(SecretId=get_settings().secret_id).get("SecretString") or "{}")
    except sm.exceptions.ResourceNotFoundException:
        current, create = {}, True
    if current.get("signing") and current.get("dek"):
        return False
    first = _new_signing_key()
    ring = {"active": first["kid"], "signing": [first],
            "dek": base64.b64encode(os.urandom(32)).decode()}
    _store(ring, create)
    return True


def rotate_signing_key() -> str:
    """New active key; the old one signs no more but stays in the JWKS until its
    tokens expire (the longest access-token lifetime after its retirement)."""
    ring = keyring(force=True)
    now = clock.now_int()
    grace = max(get_settings().access_token_ttl, get_settings().user_access_token_ttl) + 60
    kept = []
    for key in ring["signing"]:
        if key["kid"] == ring["active"]:
            key = {**key, "retiredAt": now}
        if "retiredAt" in key and key["retiredAt"] + grace < now:
            continue
        kept.append(key)
    fresh = _new_signing_key()
    ring["signing"] = [fresh, *kept]
    ring["active"] = fresh["kid"]
    _store(ring, create=False)
    return str(fresh["kid"])


def published_keys() -> list[dict[str, Any]]:
    grace = max(get_settings().access_token_ttl, get_settings().user_access_token_ttl) + 60
    now = clock.now_int()
    return [k for k in keyring()["signing"]
            if "retiredAt" not in k or k["retiredAt"] + grace >= now]


# -- secrets at rest ---------------------------------------------------------------

def encrypt(plaintext: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    dek = base64.b64decode(keyring()["dek"])
    nonce = os.urandom(12)
    sealed = AESGCM(dek).encrypt(nonce, plaintext.encode(), b"gatehouse")
    return "enc:v1:" + base64.b64encode(nonce + sealed).decode()


def decrypt(token: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not token.startswith("enc:v1:"):
        raise ValueError("not an encrypted value")
    blob = base64.b64decode(token[len("enc:v1:"):])
    dek = base64.b64decode(keyring()["dek"])
    return AESGCM(dek).decrypt(blob[:12], blob[12:], b"gatehouse").decode()
