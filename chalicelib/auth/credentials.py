"""Formats of the secrets we hand out, and how they are hashed.

API key:   gate_live_<12 id chars><32 secret chars>  (sandbox: gate_test_...)
           The id part names the item (APIKEY#key_<id>); the whole key is stored only as
           SHA-256 (the key is 190 bits of randomness, so a fast hash is safe; the slow
           KDF is for human passwords). The visible prefix is gate_live_<id part>.
Passwords: scrypt (n=2**17, r=8, p=1: OWASP's guidance), salted; a hash carries its
           parameters, so older ones still verify and are rewritten on the next login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from chalicelib.core import ids

KEY_RE = re.compile(r"^gate_(live|test)_([0-9a-hjkmnp-tv-z]{12})([0-9A-Za-z]{32})$")


def new_api_key(sandbox: bool, id_part: str | None = None) -> tuple[str, str, str]:
    """Answers (key id, full key, visible prefix)."""
    part = id_part or ids.random_b32(12)
    env = "test" if sandbox else "live"
    prefix = f"gate_{env}_{part}"
    return f"key_{part}", prefix + ids.random_token(32), prefix


def parse_api_key(key: str) -> tuple[str, bool] | None:
    """(key id, sandbox) or None when it cannot be one of ours."""
    match = KEY_RE.match(key.strip())
    if not match:
        return None
    return f"key_{match.group(2)}", match.group(1) == "test"


def hash_secret(value: str) -> str:
    return ids.sha256_hex(value)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


_R, _P = 8, 1
_MAX_N = 2**20  # what a stored hash may ask for (memory: 128 * r * n bytes)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # hashlib's default maxmem (32 MiB) is below what n=2**17, r=8 needs (128 MiB).
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=128 * r * (n + p + 2) + 2**20)


def hash_password(password: str) -> str:
    from chalicelib.core.settings import get_settings

    n = get_settings().password_hash_n
    salt = os.urandom(16)
    digest = _scrypt(password, salt, n, _R, _P)
    salt_b64 = base64.b64encode(salt).decode()
    return f"scrypt${n}${_R}${_P}${salt_b64}${base64.b64encode(digest).decode()}"


def _parameters(stored: str) -> tuple[int, int, int, bytes, bytes]:
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt" or not 1 < int(n) <= _MAX_N:
        raise ValueError("not a hash of ours")
    return int(n), int(r), int(p), base64.b64decode(salt), base64.b64decode(digest)


def check_password(password: str, stored: str) -> bool:
    try:
        n, r, p, salt, digest = _parameters(stored)
        got = _scrypt(password, salt, n, r, p)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, digest)


def needs_rehash(stored: str) -> bool:
    """A hash made with other parameters than today's (rewritten at the next login)."""
    from chalicelib.core.settings import get_settings

    try:
        n, r, p, _salt, _digest = _parameters(stored)
    except (ValueError, TypeError):
        return False
    return (n, r, p) != (get_settings().password_hash_n, _R, _P)


def dummy_password_hash() -> str:
    """Spent on unknown users, at today's cost, so a login's timing does not reveal which
    usernames exist."""
    from chalicelib.core.settings import get_settings

    n = get_settings().password_hash_n
    return f"scrypt${n}${_R}${_P}$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="


def request_signature(secret: str, timestamp: str, method: str, path_qs: str,
                      body: bytes) -> str:
    message = f"{timestamp}.{method.upper()}.{path_qs}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
