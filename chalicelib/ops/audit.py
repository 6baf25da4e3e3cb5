"""Audit log: every change and admin action, with secrets and personal data masked.

Items: PK = AUDIT#<id>, GSI1 = OWNER#<owner>#AUDIT / <time>#<id>, GSI2 = AUDIT / <time>#<id>;
kept a year (TTL).
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.auth.principal import Principal
from chalicelib.core import clock, ids
from chalicelib.core.settings import get_settings
from chalicelib.store import table as store

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


def entry(actor: Principal | None, action: str, target_type: str, target_id: str,
          changes: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    """The audit item of a change, to be written in the change's own transaction
    (`put_op`), so a crash between the two cannot lose it."""
    from chalicelib.http import context

    try:
        ctx = context.current()
        request_id, ip = ctx.server_id, ctx.ip  # never the caller's chosen id
    except RuntimeError:
        request_id, ip = "", ""
    from chalicelib.http.accesslog import masked_ip

    now = clock.now()
    stamp = clock.iso(now)
    audit_id = ids.new_id("aud")
    owner_id = owner if owner is not None else (actor.owner if actor else "")
    item: dict[str, Any] = {
        "PK": f"AUDIT#{audit_id}", "SK": "AUDIT", "GSI2PK": "AUDIT",
        "GSI2SK": f"{stamp}#{audit_id}", "id": audit_id, "timestamp": stamp,
        "action": action, "targetType": target_type, "targetId": target_id,
        "actor": actor.describe() if actor else "system", "owner": owner_id,
        "changes": masked(changes), "requestId": request_id, "ip": masked_ip(ip) if ip else "",
        "ttl": int(now) + get_settings().audit_log_ttl_days * 86400,
    }
    if owner_id:
        item["GSI1PK"] = f"OWNER#{owner_id}#AUDIT"
        item["GSI1SK"] = f"{stamp}#{audit_id}"
    return item


def put_op(item: dict[str, Any]) -> dict[str, Any]:
    """The audit item as an operation of `store.transact`."""
    return {"Put": {"Item": item}}


def record(actor: Principal | None, action: str, target_type: str, target_id: str,
           changes: dict[str, Any], owner: str | None = None) -> None:
    """For actions that change nothing else in DynamoDB (a key rotation of the keyring,
    a test event): writes the entry on its own. Changes use `entry` in their transaction."""
    store.put(entry(actor, action, target_type, target_id, changes, owner))
