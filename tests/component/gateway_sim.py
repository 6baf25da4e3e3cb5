"""A local payment gateway that builds Stripe-shaped events and signs them as Stripe
does, independently of the code under test (its own HMAC, its own header):

    Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

Stripe sends the event pretty-printed (indent 2) as application/json; charset=utf-8;
while it rolls an endpoint's secret it signs with each active secret (one v1 each); in
test mode it adds a v0 that receivers ignore.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

V = "/api/v1"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class GatewaySim:
    def __init__(self, secret: str) -> None:
        self.secrets = [secret]

    def roll(self, new_secret: str) -> None:
        """Rolls the secret as Stripe does: both sign until the old one expires."""
        self.secrets.append(new_secret)

    def expire_old(self) -> None:
        self.secrets = self.secrets[-1:]

    @staticmethod
    def now() -> int:
        from chalicelib.core import clock  # the clock the tests move

        return clock.now_int()

    def payment_event(self, order_id: str | None, amount: int, *, succeeded: bool = True,
                      currency: str = "usd", event_id: str | None = None,
                      event_type: str | None = None) -> dict[str, Any]:
        """A payment_intent.succeeded / .payment_failed event (amount in minor units)."""
        intent: dict[str, Any] = {
            "id": _id("pi"), "object": "payment_intent", "amount": amount,
            "amount_received": amount if succeeded else 0, "currency": currency,
            "status": "succeeded" if succeeded else "requires_payment_method",
            "metadata": {"orderId": order_id} if order_id is not None else {},
            "livemode": False, "created": self.now(),
        }
        if not succeeded:
            intent["last_payment_error"] = {"code": "card_declined",
                                            "message": "Your card was declined."}
        return {
            "id": event_id or _id("evt"), "object": "event", "api_version": "2024-06-20",
            "created": self.now(), "livemode": False, "pending_webhooks": 1,
            "request": {"id": _id("req"), "idempotency_key": None},
            "type": event_type or ("payment_intent.succeeded" if succeeded
                                   else "payment_intent.payment_failed"),
            "data": {"object": intent},
        }

    @staticmethod
    def payload(event: dict[str, Any]) -> bytes:
        return json.dumps(event, indent=2, ensure_ascii=False).encode()  # as Stripe sends it

    def header(self, body: bytes, *, timestamp: int | None = None,
               test_mode_v0: bool = True) -> str:
        t = self.now() if timestamp is None else timestamp
        parts = [f"t={t}"]
        for secret in self.secrets:
            mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
            parts.append(f"v1={mac.hexdigest()}")
        if test_mode_v0:
            parts.append(f"v0={hashlib.sha256(body).hexdigest()}")
        return ",".join(parts)

    def headers(self, body: bytes, **kw: Any) -> dict[str, str]:
        return {"Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": self.header(body, **kw)}

    def deliver(self, api: Any, connection_id: str, event: dict[str, Any],
                **kw: Any) -> Any:
        """Posts the event to the connector's inbound URL, without any Gatehouse
        credentials (an Api with no headers of its own)."""
        body = self.payload(event)
        bare = type(api)(api.client)
        return bare.post(f"{V}/integrations/{connection_id}/inbound", raw=body,
                         headers=self.headers(body, **kw))
