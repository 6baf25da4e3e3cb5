"""The payment-gateway connector: a gateway's signed event callbacks, read as payments.

Scheme "stripe" (the preset), as Stripe signs its webhook events:

    Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>[,v1=...]

Several v1 values come while the gateway rolls its secret (it signs with the old and
the new one): any one matching is enough. Other items (v0, unknown schemes) are
ignored, as Stripe's own libraries do. A timestamp older or newer than
`toleranceSeconds` is refused (a captured callback replayed later, or a clock far off).

What an event means is read through the config's field paths (dotted, a number picks a
list item), Stripe-shaped by default: `id`, `type`, `data.object.metadata.orderId`,
`data.object.amount` (minor units), `data.object.currency`, `data.object.id` (the
reference). This module only reads; recording is integrations/inbound.py's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import Field, field_validator

from chalicelib.core import clock
from chalicelib.core.errors import ValidationFailed
from chalicelib.http.models import Body
from chalicelib.integrations.connector import (
    INBOUND,
    Connection,
    ConnectorType,
    dig,
    register,
)

TYPE = "payment_gateway"
PATH = r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+){0,15}$"
MAX_EVENT_ID = 255
# fullmatch: "$" would let a trailing newline through.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")   # ASCII digits only (str.isdigit takes "²")
_V1 = re.compile(r"[0-9a-f]{64}")         # a hex SHA-256: anything else cannot match


class GatewayConfig(Body):
    scheme: Literal["stripe"] = Field(
        "stripe", description="How callbacks are signed. `stripe`: `t=<unix>,v1=<hex "
                              "HMAC-SHA256 of \"t.body\">`.")
    signature_header: str = Field("Stripe-Signature", min_length=1, max_length=64,
                                  pattern=r"^[A-Za-z0-9-]+$")
    tolerance_seconds: int = Field(300, ge=30, le=3600, description=(
        "A callback signed longer ago (or further ahead) than this is refused."))
    event_id_path: str = Field("id", pattern=PATH)
    event_type_path: str = Field("type", pattern=PATH)
    succeeded_types: list[str] = Field(
        default_factory=lambda: ["payment_intent.succeeded"], max_length=20)
    failed_types: list[str] = Field(
        default_factory=lambda: ["payment_intent.payment_failed"], max_length=20)
    status_path: str | None = Field(None, pattern=PATH, description=(
        "For gateways that send one event type with a status field: the status decides "
        "(succeededStatuses / failedStatuses) for events of the types above."))
    succeeded_statuses: list[str] = Field(default_factory=lambda: ["succeeded"],
                                          max_length=20)
    failed_statuses: list[str] = Field(default_factory=lambda: ["failed"], max_length=20)
    order_id_path: str = Field("data.object.metadata.orderId", pattern=PATH)
    amount_path: str = Field("data.object.amount", pattern=PATH)
    amount_unit: Literal["minor", "major"] = Field(
        "minor", description="minor: an integer in the currency's smallest unit, as Stripe "
        "sends it (cents; yen for JPY and the other zero-decimal currencies; thousandths "
        "for KWD, BHD, JOD, OMR, TND); major: a decimal (\"12.50\").")
    currency_path: str | None = Field("data.object.currency", pattern=PATH)
    currency: str | None = Field("usd", min_length=3, max_length=3, description=(
        "The only currency accepted (orders carry none of their own); null: any."))
    reference_path: str | None = Field("data.object.id", pattern=PATH)
    method: Literal["card", "bank_transfer", "cash", "paypal", "other"] = "card"

    @field_validator("currency")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value


class GatewayCredentials(Body):
    signing_secret: str = Field(min_length=8, max_length=256, description=(
        "The endpoint's signing secret (Stripe: `whsec_...`)."))


@dataclass(frozen=True)
class GatewayEvent:
    """What a verified callback asks: a payment (status succeeded|failed), nothing
    (`ignored`: a type not handled) or nothing because it cannot be applied
    (`rejected`, with the reason)."""
    event_id: str
    event_type: str
    outcome: Literal["payment", "ignored", "rejected"]
    order_id: str = ""
    amount_cents: int = 0
    status: str = ""
    reference: str = ""
    reason: str = ""


def _bad(message: str, field: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": field, "message": message}])


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """Stripe's v1: hex HMAC-SHA256 of "<t>.<body>" keyed with the secret's text."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def parse_header(value: str, header: str) -> tuple[int, list[str]]:
    """(t, [v1...]) of a `t=...,v1=...` header; 400 when it has no t or no v1."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(item):
                raise _bad("The signature header's timestamp is not valid.", header)
            timestamp = int(item)
        elif key == "v1" and _V1.fullmatch(item.lower()):
            signatures.append(item.lower())
    if timestamp is None or not signatures:
        raise _bad("The signature header needs t=<timestamp> and v1=<signature>.", header)
    return timestamp, signatures[:10]  # a rotation sends two; more is noise


def path_value(doc: Any, path: str | None) -> Any:
    """The value at a config's path; None where it is absent or no path is set."""
    return dig(doc, path) if path else None


class PaymentGateway(ConnectorType):
    type = TYPE
    title = "Payment gateway (Stripe-style signed callbacks)"
    description = ("Receives a payment gateway's signed event callbacks at "
                   "POST /api/v1/integrations/{id}/inbound and records them as payments on "
                   "orders (payment.received / payment.failed). Signature and timestamp "
                   "are checked per the scheme; an event id seen before is acknowledged "
                   "and ignored.")
    directions = frozenset({INBOUND})
    config_model = GatewayConfig
    credentials_model = GatewayCredentials

    def config(self, connection: Connection) -> GatewayConfig:
        return GatewayConfig.model_validate(connection.config)

    def verify_inbound(self, connection: Connection, headers: dict[str, str],
                       body: bytes) -> dict[str, Any]:
        cfg = self.config(connection)
        secret = str(connection.credentials.get("signingSecret") or "")
        if not secret:  # a connection without its secret accepts nothing
            raise _bad("This connector has no signing secret.", cfg.signature_header)
        value = {k.lower(): v for k, v in headers.items()}.get(cfg.signature_header.lower(), "")
        if not value:
            raise _bad(f"The {cfg.signature_header} header is missing.", cfg.signature_header)
        timestamp, given = parse_header(value, cfg.signature_header)
        if abs(clock.now() - timestamp) > cfg.tolerance_seconds:
            raise _bad("The signature's timestamp is outside the tolerance "
                       f"({cfg.tolerance_seconds} s).", cfg.signature_header)
        expected = signature(secret, timestamp, body)
        # compare_digest against every candidate (no early exit on the first match), as
        # bytes (ASCII hex, parse_header kept no other).
        matched = [hmac.compare_digest(expected.encode(), candidate.encode())
                   for candidate in given]
        if not any(matched):
            raise _bad("No signature matches the body.", cfg.signature_header)
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise _bad("The body is not valid JSON.", "body") from None
        if not isinstance(event, dict):
            raise _bad("The body is not a JSON object.", "body")
        return event

    def read_event(self, connection: Connection, event: dict[str, Any]) -> GatewayEvent:
        """The verified event read through the config's paths. An event without a usable
        id is a 400 (nothing can tell its deliveries apart)."""
        cfg = self.config(connection)
        event_id = path_value(event, cfg.event_id_path)
        if not isinstance(event_id, str) or not event_id.strip() \
                or len(event_id) > MAX_EVENT_ID or not event_id.isprintable():
            raise _bad(f"The event has no usable id at '{cfg.event_id_path}'.",
                       cfg.event_id_path)
        event_type = str(path_value(event, cfg.event_type_path) or "")[:200]
        status = _status(cfg, event, event_type)
        if status is None:
            return GatewayEvent(event_id, event_type, "ignored",
                                reason=f"Event type '{event_type}' is not handled.")

        def rejected(reason: str, order_id: str = "") -> GatewayEvent:
            return GatewayEvent(event_id, event_type, "rejected", order_id=order_id,
                                status=status, reason=reason)

        order_id = path_value(event, cfg.order_id_path)
        if not isinstance(order_id, str) or not order_id or len(order_id) > 64:
            return rejected(f"No order id at '{cfg.order_id_path}'.")
        currency = cfg.currency or ""
        if cfg.currency_path:
            currency = str(path_value(event, cfg.currency_path) or "").lower()
            if cfg.currency and currency != cfg.currency:
                return rejected(f"Currency '{currency}' is not {cfg.currency}.", order_id)
        amount = _cents(path_value(event, cfg.amount_path), cfg.amount_unit, currency)
        if amount is None:
            return rejected(f"No positive amount at '{cfg.amount_path}'.", order_id)
        reference = path_value(event, cfg.reference_path)
        return GatewayEvent(event_id, event_type, "payment", order_id=order_id,
                            amount_cents=amount, status=status,
                            reference=str(reference)[:200] if reference else "")


def _status(cfg: GatewayConfig, event: dict[str, Any], event_type: str) -> str | None:
    """succeeded | failed, or None for an event not handled."""
    if event_type in cfg.succeeded_types:
        status = "succeeded"
    elif event_type in cfg.failed_types:
        status = "failed"
    else:
        return None
    if cfg.status_path:
        value = str(path_value(event, cfg.status_path) or "")
        if value in cfg.succeeded_statuses:
            return "succeeded"
        return "failed" if value in cfg.failed_statuses else None
    return status


# Currencies whose minor unit is not a hundredth (ISO 4217, as Stripe counts them): a
# Stripe amount of 500 JPY is 500 yen, of 12340 KWD 12.340 dinars.
ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg",
                          "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"})
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def _cents(value: Any, unit: str, currency: str = "") -> int | None:
    """A positive amount in hundredths (our money's unit), at most the largest order
    total; None otherwise (a three-decimal amount with a sub-hundredth part too)."""
    if isinstance(value, bool) or value is None:
        return None
    if unit == "minor":
        if not isinstance(value, int):
            return None
        if currency in ZERO_DECIMAL:
            cents = value * 100
        elif currency in THREE_DECIMAL:
            if value % 10:
                return None
            cents = value // 10
        else:
            cents = value
    else:
        try:
            amount = Decimal(str(value))
            # quantize raises for a value beyond the context's precision ("1e100")
            if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
                return None
        except InvalidOperation:
            return None
        cents = int(amount * 100)
    return cents if 0 < cents <= 99_999_999_999 else None


register(PaymentGateway())
