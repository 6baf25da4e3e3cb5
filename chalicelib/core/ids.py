"""Ids: a type prefix and a time-sortable random part (ULID-like, Crockford base32)."""

from __future__ import annotations

import hashlib
import secrets

from chalicelib.core import clock

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b32(number: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    millis = int(clock.now() * 1000)
    return f"{prefix}_{_b32(millis, 10)}{_b32(secrets.randbits(80), 16)}"


def random_token(length: int = 32) -> str:
    """Base62 secret of `length` characters (about 5.95 bits each)."""
    return "".join(secrets.choice(_B62) for _ in range(length))


def random_b32(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
