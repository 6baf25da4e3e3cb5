"""Webhook signatures: Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature`) and the brief's `X-Webhook-*` family. Both use the secret's
base64-decoded bytes (after `whsec_`) as the HMAC-SHA256 key (contract section 6)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from chalicelib.webhooks.models import SECRET_PREFIX

USER_AGENT = "Gatehouse-Webhooks/1.0"
# Shown as-is in delivery logs; every other signing or auth header is redacted.
_SAFE = {"content-type", "user-agent", "webhook-id", "webhook-timestamp", "x-webhook-timestamp",
         "x-webhook-event", "x-webhook-attempt", "host"}
REDACTED = "[redacted]"


def key_bytes(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def standard_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    mac = hmac.new(key_bytes(secret), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def legacy_signature(secret: str, timestamp: int, body: str) -> str:
    mac = hmac.new(key_bytes(secret), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def headers(secrets: list[str], msg_id: str, timestamp: int, body: str, event: str,
            attempt: int, custom: dict[str, str] | None = None) -> dict[str, str]:
    """Every header of one attempt. `secrets` is [current, previous?]: during a rotation's
    overlap both sign `webhook-signature` (space-separated) so receivers can switch at
    their own pace; `X-Webhook-Signature` carries the current one only."""
    out: dict[str, str] = {}
    # Custom headers first: ours win, so a receiver cannot be fed a forged signature
    # header through the webhook's own configuration.
    for name, value in (custom or {}).items():
        out[name] = value
    ours = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(standard_signature(s, msg_id, timestamp, body)
                                      for s in secrets if s),
        "X-Webhook-Signature": legacy_signature(secrets[0], timestamp, body),
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Event": event,
        "X-Webhook-Attempt": str(attempt),
    }
    lowered = {k.lower() for k in ours}
    out = {k: v for k, v in out.items() if k.lower() not in lowered}
    out.update(ours)
    return out


def redact(sent: dict[str, str]) -> dict[str, str]:
    """For the delivery log: signatures and the receiver's own auth headers never shown."""
    return {k: (v if k.lower() in _SAFE else REDACTED) for k, v in sent.items()}
