"""Personal data and secrets masked before they are stored in logs (access, audit)."""

from __future__ import annotations

import re
from typing import Any

SECRET_FIELDS = re.compile(r"(secret|password|token|key|credential|signature)", re.I)
PERSONAL_FIELDS = re.compile(r"(email|phone|address|name)$", re.I)
EMAIL_VALUE = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")  # an email under any name
_MAX_VALUE = 500


def mask_email(value: str) -> str:
    user, _, domain = value.partition("@")
    return (user[:1] + "***@" + domain) if domain else "***"


def masked(changes: Any, field: str = "") -> Any:
    """Secrets removed; personal data partly hidden; long values cut."""
    # A secret-named field hides its whole value, a dict or list included (credentials
    # {"user", "password"} must not leak "user" because only "password" looks secret).
    if field and SECRET_FIELDS.search(field) and field not in ("keyId", "apiKeyId"):
        return "***"
    if isinstance(changes, dict):
        return {k: masked(v, k) for k, v in changes.items()}
    if isinstance(changes, list):
        return [masked(v, field) for v in changes[:50]]
    if isinstance(changes, str):
        if "@" in changes and (field.lower().endswith("email")
                               or EMAIL_VALUE.fullmatch(changes.strip())):
            return mask_email(changes)
        if field and PERSONAL_FIELDS.search(field) and field.lower() not in ("name",):
            return changes[:1] + "***"
        return changes[:_MAX_VALUE]
    return changes


def masked_ip(ip: str) -> str:
    """Personal data masked: the last IPv4 octet, or the IPv6 interface part."""
    if ":" in ip:
        return ":".join(ip.split(":")[:4]) + "::"
    parts = ip.split(".")
    return ".".join(parts[:3] + ["0"]) if len(parts) == 4 else ip
