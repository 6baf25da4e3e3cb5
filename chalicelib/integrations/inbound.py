"""Inbound callbacks: a gateway's signed event becomes a payment on an order, once.

    receive(id, headers, body, ip)
      connection (404 unless it exists and receives callbacks)
      -> the type's signature and timestamp check (400; failures count against the IP)
      -> paused: 503 (the gateway retries later)
      -> the event read through the config (a type not handled: ignored)
      -> already received (a final outcome for this event id): 200 duplicate
      -> the owner's current rights (orders:write, now), and the principal that set the
         connection's ceiling still there (a key not revoked, a client not deleted or
         disabled): else 403, logged `refused`
      -> orders.pay as the connection, with the event's marker in the same transaction

A payment that cannot apply (unknown or cancelled order, over the balance, another
currency) is acknowledged (200) and logged `rejected`: retrying cannot fix it, and
Stripe asks for a quick 2xx for every event handled. A transient failure (throttling, a
race lost too often) answers 5xx/409 with nothing written, so the gateway's retry
records it then.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib.core.errors import Conflict, NotFound, Unavailable
from chalicelib.core.principal import Principal
from chalicelib.integrations import inbound_log, repo, types
from chalicelib.integrations.connector import INBOUND, Connection
from chalicelib.integrations.gateway import GatewayEvent, PaymentGateway

MAX_BODY = 256 * 1024  # Stripe's events are a few KiB; the edge's own cap is 1 MiB
WRITE = "orders:write"


def _charge_ip(ip: str) -> None:
    """A failed check counts against the IP's anonymous budget (429 once spent); a
    gateway that signs correctly is never charged, however busy."""
    from chalicelib.auth import attempts

    attempts.charge(ip)


def _gateway(connection_id: str) -> tuple[Connection, PaymentGateway] | None:
    from chalicelib.integrations.service import CONNECTION_ID_RE

    connection = repo.load(connection_id) if CONNECTION_ID_RE.match(connection_id) else None
    kind = types.load_all().get(connection.type) if connection else None
    if connection is None or not isinstance(kind, PaymentGateway) \
            or INBOUND not in kind.directions:
        return None
    return connection, kind


def receive(connection_id: str, headers: dict[str, str], body: bytes,
            ip: str) -> dict[str, Any]:
    from chalicelib.core.errors import PayloadTooLarge, ValidationFailed

    if len(body) > MAX_BODY:
        raise PayloadTooLarge(f"An inbound event may be at most {MAX_BODY} bytes.")
    found = _gateway(connection_id)
    if found is None:
        _charge_ip(ip)
        raise NotFound("No inbound connector with this id.")
    connection, kind = found
    try:
        raw = kind.verify_inbound(connection, headers, body)
    except ValidationFailed:
        _charge_ip(ip)
        _note("inbound signature refused", connection)
        raise
    if connection.status != "active":
        raise Unavailable("This connector is paused; deliveries resume when it is active.",
                          headers={"Retry-After": "300"})
    event = kind.read_event(connection, raw)
    if inbound_log.final(connection.id, event.event_id):
        return _answer(event, "duplicate", duplicate=True)
    if event.outcome != "payment":
        return _settle(connection, event, event.outcome, event.reason)
    principal, refused = principal_for(connection)
    if principal is None:
        item = _item(connection, event, "refused", reason=refused)
        if not inbound_log.put(item):
            return _answer(event, "duplicate", duplicate=True)
        from chalicelib.core.errors import Forbidden

        raise Forbidden(f"{refused} Nothing was recorded.")
    return _pay(connection, event, principal)


def principal_for(connection: Connection) -> tuple[Principal | None, str]:
    """Whom the payment is recorded as: the connection, for its owner, holding
    orders:write only while both the credential that configured it and the owner hold
    it now, and that credential has not ended (read at each callback: losing the right,
    or revoking the key, stops the recording). Else (None, why)."""
    from chalicelib.auth.owners import current_scopes, ended
    from chalicelib.core.scopes import allows, sandboxed, within

    gone = ended(connection.ceiling_by)
    if gone is not None:
        return None, (f"The credential that set up this connector ({connection.ceiling_by}) "
                      f"is {gone}.")
    owner_now = current_scopes([connection.owner]).get(connection.owner, frozenset())
    held = within(connection.scopes, owner_now)
    if connection.sandbox:
        held = sandboxed(held)
    if not allows(held, [WRITE]):
        return None, f"The connector's owner no longer holds {WRITE}."
    return Principal(kind="integration", id=connection.id, owner=connection.owner,
                     scopes=frozenset({WRITE}), sandbox=connection.sandbox), ""


def _pay(connection: Connection, event: GatewayEvent, principal: Principal) -> dict[str, Any]:
    from chalicelib.resources import orders

    cfg = PaymentGateway().config(connection)

    def more_ops(payment: dict[str, Any]) -> list[dict[str, Any]]:
        return [inbound_log.put_op(_item(connection, event, "recorded",
                                         payment_id=payment["id"]))]

    body = orders.PaymentIn(amount=Decimal(event.amount_cents) / 100, method=cfg.method,
                            status=event.status, reference=event.reference or None)
    try:
        payment = orders.pay(principal, event.order_id, body, more_ops)
    except (orders.PaymentRefused, NotFound) as exc:
        return _settle(connection, event, "rejected", exc.message)
    except Conflict:
        # The marker's condition (another delivery recorded it first), or races lost
        # too often: only the first is final.
        if inbound_log.final(connection.id, event.event_id):
            return _answer(event, "duplicate", duplicate=True)
        raise
    return _answer(event, "recorded", payment_id=payment["id"])


def _item(connection: Connection, event: GatewayEvent, outcome: str,
          reason: str = "", payment_id: str = "") -> dict[str, Any]:
    fields: dict[str, Any] = {"reason": reason, "orderId": event.order_id,
                              "status": event.status, "paymentId": payment_id}
    if event.outcome == "payment":
        fields["amount"] = event.amount_cents
    return inbound_log.new_item(connection.id, event.event_id, outcome,
                                sandbox=connection.sandbox, event_type=event.event_type,
                                **fields)


def _settle(connection: Connection, event: GatewayEvent, outcome: str,
            reason: str) -> dict[str, Any]:
    """Logs an event that records no payment (ignored, rejected); 200 either way."""
    if not inbound_log.put(_item(connection, event, outcome, reason)):
        return _answer(event, "duplicate", duplicate=True)
    _note(f"inbound event {outcome}", connection, eventId=event.event_id,
                 reason=reason)
    return _answer(event, outcome, reason=reason)


def _answer(event: GatewayEvent, outcome: str, *, duplicate: bool = False,
            reason: str = "", payment_id: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"received": True, "duplicate": duplicate, "eventId": event.event_id,
                           "outcome": outcome}
    if reason:
        out["reason"] = reason
    if payment_id:
        out["paymentId"] = payment_id
    return out


def _note(message: str, connection: Connection, **extra: Any) -> None:
    from chalicelib.core.logging import get_logger

    get_logger().info(message, extra={"connectionId": connection.id, **extra})
