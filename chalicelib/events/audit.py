"""Audit log: every change and admin action, with secrets and personal data masked.

Items: PK = AUDIT#<id>, GSI1 = OWNER#<owner>#AUDIT / <time>#<id>, GSI2 = AUDIT / <time>#<id>;
kept a year (TTL).
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock, correlation, ids
from chalicelib.core.principal import Principal
from chalicelib.core.redact import masked, masked_ip
from chalicelib.core.settings import get_settings
from chalicelib.store import table as store


def entry(actor: Principal | None, action: str, target_type: str, target_id: str,
          changes: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    """The audit item of a change, to be written in the change's own transaction
    (`put_op`), so a crash between the two cannot lose it."""
    request = correlation.current()  # the server's id of the request, never the caller's
    now = clock.now()
    stamp = clock.iso(now)
    audit_id = ids.new_id("aud")
    owner_id = owner if owner is not None else (actor.owner if actor else "")
    item: dict[str, Any] = {
        "PK": f"AUDIT#{audit_id}", "SK": "AUDIT", "GSI2PK": "AUDIT",
        "GSI2SK": f"{stamp}#{audit_id}", "id": audit_id, "timestamp": stamp,
        "action": action, "targetType": target_type, "targetId": target_id,
        "actor": actor.describe() if actor else "system", "owner": owner_id,
        "changes": masked(changes), "requestId": request.request_id,
        "ip": masked_ip(request.ip) if request.ip else "",
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
