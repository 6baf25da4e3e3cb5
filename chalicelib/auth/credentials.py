"""Formats of the secrets we hand out, and how they are hashed.

API key:   gate_live_<12 id chars><32 secret chars>  (sandbox: gate_test_...)
           The id part names the item (APIKEY#key_<id>); the whole key is stored only as
           SHA-256 (the key is 190 bits of randomness, so a fast hash is safe; the slow
           KDF is for human passwords). The visible prefix is gate_live_<id part>.
Passwords: scrypt (n=2**14, r=8, p=1), salted.
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


_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    salt_b64 = base64.b64encode(salt).decode()
    return f"scrypt${_N}${_R}${_P}${salt_b64}${base64.b64encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# Spent on unknown users so a login's timing does not reveal which usernames exist.
DUMMY_PASSWORD_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "="


def request_signature(secret: str, timestamp: str, method: str, path_qs: str,
                      body: bytes) -> str:
    message = f"{timestamp}.{method.upper()}.{path_qs}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
