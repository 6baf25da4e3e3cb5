"""Orders: totals computed here (integer cents), status flow with validated transitions,
DELETE cancels, payments raising payment.received / payment.failed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_serializer, model_validator

from chalicelib.core import clock, ids
from chalicelib.core.errors import Conflict, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.http.models import Body, ChangeBody
from chalicelib.resources import customers, repo, service
from chalicelib.resources.customers import CUSTOMERS
from chalicelib.resources.declaration import Money, Out, Resource, cents, register_events
from chalicelib.resources.products import PRODUCTS

FLOW: dict[str, tuple[str, ...]] = {
    "pending": ("confirmed", "cancelled"),
    "confirmed": ("processing", "cancelled"),
    "processing": ("shipped", "cancelled"),
    "shipped": ("delivered", "cancelled"),
    "delivered": (),
    "cancelled": (),
}
MONEY = ("price", "lineTotal", "subtotal", "total", "amountPaid", "amount")


# Earlier names of the address fields, still accepted on input.
ADDRESS_ALIASES = {"line1": "street", "line2": "street2", "postalCode": "zip"}


def _document_aliases(schema: dict[str, Any]) -> None:
    for old, new in ADDRESS_ALIASES.items():
        schema["properties"][old] = {"type": "string", "deprecated": True,
                                     "description": f"Accepted instead of `{new}`."}


class Address(Body):
    """The brief's shape (`street`, `city`, `state`, `zip`, optional `country`); answers
    always use it. `line1`, `line2` and `postalCode` are accepted for `street`, `street2`
    and `zip`."""

    model_config = ConfigDict(json_schema_extra=_document_aliases)

    street: str = Field(min_length=1, max_length=200)
    street2: str | None = Field(None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    state: str | None = Field(None, max_length=100)
    zip: str = Field(min_length=1, max_length=20, description="Postal code.")
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for old, new in ADDRESS_ALIASES.items():
            if old in out:
                if new in out:
                    raise ValueError(f"give {new} or {old}, not both")
                out[new] = out.pop(old)
        return out

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: Any) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class AddressOut(Out):
    street: str
    street2: str | None = None
    city: str
    state: str | None = None
    zip: str
    country: str | None = None


class LineIn(Body):
    product_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10_000)
    price: Money


class OrderIn(Body):
    customer_id: str = Field(min_length=1, max_length=64)
    items: list[LineIn] = Field(min_length=1, max_length=50)
    shipping_address: Address


class OrderUpdate(ChangeBody):
    items: list[LineIn] | None = Field(None, min_length=1, max_length=50)
    shipping_address: Address | None = None


class Line(Out):
    product_id: str = Field(description="The product ordered (prd_...).")
    quantity: int = Field(description="Units ordered (1-10,000).")
    price: str = Field(description="Unit price, a decimal string.")
    line_total: str = Field(description="quantity x price, a decimal string.")


class Order(Out):
    id: str = Field(description="The order's id (ord_...).")
    customer_id: str = Field(description="The customer who ordered (cus_...).")
    items: list[Line] = Field(description="The order lines: productId, quantity, price, lineTotal.")
    shipping_address: AddressOut | None = Field(
        None, description="Absent once the customer's personal data is erased.")
    status: str = Field(description=" | ".join(FLOW))
    subtotal: str = Field(description="Sum of the line totals, a decimal string.")
    total: str = Field(description="What the order costs, a decimal string.")
    item_count: int = Field(description="Units across all lines.")
    amount_paid: str = Field(description="Payments received so far, a decimal string.")
    payment_status: str = Field(description="unpaid | partial | paid")
    created_at: str
    updated_at: str
    # When it last moved to each status (PATCH /status writes `<status>At`).
    confirmed_at: str | None = None
    processing_at: str | None = None
    shipped_at: str | None = None
    delivered_at: str | None = None
    cancelled_at: str | None = None
    personal_data_erased_at: str | None = None


class StatusChanged(Order):
    previous_status: str


class PaymentIn(Body):
    amount: Money = Field(gt=0)
    method: Literal["card", "bank_transfer", "cash", "paypal", "other"]
    status: Literal["succeeded", "failed"] = "succeeded"
    reference: str | None = Field(None, max_length=200)


class PaymentRefused(Conflict):
    """A payment the order's state refuses (cancelled, over the balance): 409 to an API
    caller; an inbound gateway's event is acknowledged and logged instead."""


class Payment(Out):
    id: str
    order_id: str
    amount: str
    method: str
    status: str
    reference: str | None = None
    created_at: str


def _build(ns: str, record: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    if previous is not None and previous.get("status") != "pending":
        raise Conflict("Only a pending order can be changed.")
    if previous is None:  # (an update cannot change the customer)
        customer = repo.load(CUSTOMERS, ns, record["customerId"])
        if customer is None or customer.record.get("status") == "erased":
            raise Unprocessable("The customer does not exist.", details=[
                {"field": "customerId", "message": "no such customer"}])
    missing = []
    subtotal = count = 0
    products = repo.existing(PRODUCTS, ns, [line["productId"] for line in record["items"]])
    for i, line in enumerate(record["items"]):
        if line["productId"] not in products:
            missing.append({"field": f"items.{i}.productId", "message": "no such product"})
        line["lineTotal"] = line["price"] * line["quantity"]
        subtotal += line["lineTotal"]
        count += line["quantity"]
    if missing:
        raise Unprocessable("Some products do not exist.", details=missing)
    paid = (previous or {}).get("amountPaid", 0)
    record.update(subtotal=subtotal, total=subtotal, itemCount=count, amountPaid=paid,
                  paymentStatus=_payment_status(paid, subtotal))
    return record


def _payment_status(paid: int, total: int) -> str:
    return "unpaid" if paid == 0 else ("paid" if paid >= total else "partial")


def _cancelled(previous: dict[str, Any] | None,
               new: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """order.cancelled, besides order.status_changed, when an order becomes cancelled."""
    if new.get("status") != "cancelled" or (previous or {}).get("status") == "cancelled":
        return []
    return [("order.cancelled", ORDERS.present(new))]


def _links(ns: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The customer's link to the order (for erasure), and the customer must still be
    there, unerased, when the order commits."""
    return repo.link_ops(CUSTOMERS, ns, record["customerId"], ORDERS, record["id"],
                         record["createdAt"], parent_without="erasedAt",
                         message="The customer was erased meanwhile.")


ORDERS = Resource(
    name="orders", kind="ORDER", singular="order", id_prefix="ord", model=Order,
    create=OrderIn, update=OrderUpdate, id_param="order_id",
    example={"id": "ord_01example", "customerId": "cus_01example",
             "items": [{"productId": "prd_01example", "quantity": 2, "price": "12.50",
                        "lineTotal": "25.00"}],
             "shippingAddress": {"street": "123 Main St", "city": "New York", "state": "NY",
                                 "zip": "10001", "country": "US"},
             "status": "pending", "subtotal": "25.00", "total": "25.00", "itemCount": 2,
             "amountPaid": "0.00", "paymentStatus": "unpaid",
             "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"},
    money=MONEY, enums={"status": tuple(FLOW), "customerId": (),
                        "paymentStatus": ("unpaid", "partial", "paid")},
    ranges=("total", "itemCount"), sort2="total", flow=FLOW, initial_status="pending",
    build=_build, create_ops=_links, more_events=_cancelled, delete_mode="custom",
    personal=("shippingAddress",),
    subject="customerId",
    events={"created": "order.created", "updated": "order.updated",
            "status_changed": "order.status_changed"})

_PAYMENT_EXAMPLE = {"id": "pay_01example", "orderId": "ord_01example", "amount": "25.00",
                    "method": "card", "status": "succeeded", "reference": "ch_123",
                    "createdAt": "2026-01-01T00:00:00.000Z"}
register_events(ORDERS, {"updated": "A pending order's items or address changed."}, {
    "order.status_changed": ("An order moved to another status.", StatusChanged,
                             {**ORDERS.example, "status": "confirmed",
                              "previousStatus": "pending"}),
    "order.cancelled": ("An order was cancelled.", Order,
                        {**ORDERS.example, "status": "cancelled",
                         "cancelledAt": "2026-01-02T00:00:00.000Z"}),
    "payment.received": ("A payment on an order succeeded.", Payment, _PAYMENT_EXAMPLE),
    "payment.failed": ("A payment on an order failed.", Payment,
                       {**_PAYMENT_EXAMPLE, "status": "failed"}),
})


def cancel(principal: Principal, order_id: str) -> dict[str, Any]:
    return service.transition(ORDERS, principal, order_id, "cancelled")


def pay(principal: Principal, order_id: str, body: PaymentIn,
        more_ops: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None
        ) -> dict[str, Any]:
    """`more_ops(payment)`: items written in the payment's own transaction (an inbound
    callback's duplicate marker)."""
    amount = cents(body.amount) or 0
    payment = {"id": ids.new_id("pay"), "orderId": order_id, "amount": amount,
               "method": body.method, "status": body.status, "createdAt": clock.iso()}
    if body.reference:
        payment["reference"] = body.reference

    def change(record: dict[str, Any]) -> tuple[dict[str, Any], service.Events]:
        if record["status"] == "cancelled":
            raise PaymentRefused("The order is cancelled.")
        if body.status == "succeeded":
            balance = record["total"] - record.get("amountPaid", 0)
            if amount > balance:
                raise PaymentRefused("The amount exceeds the order's balance.",
                                     details=[{"field": "amount",
                                               "message": f"balance is {balance / 100:.2f}"}])
            record["amountPaid"] = record.get("amountPaid", 0) + amount
            record["paymentStatus"] = _payment_status(record["amountPaid"], record["total"])
            event = "payment.received"
        else:
            event = "payment.failed"
        return record, [(event, ORDERS.present(payment))]

    def put_payment(_old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
        return [repo.payment_op(ORDERS, service.namespace(principal), order_id, payment),
                *(more_ops(payment) if more_ops else [])]

    service.mutate(ORDERS, principal, order_id, change, f"payment.{body.status}",
                   extra_ops=put_payment, audit_changes={**payment})
    return ORDERS.present(payment)


def payments(principal: Principal, order_id: str) -> list[dict[str, Any]]:
    ns = service.namespace(principal)
    service.load(ORDERS, ns, order_id)
    return [ORDERS.present(p) for p in repo.payments(ORDERS, ns, order_id)]


@customers.holds_personal_data
def scrub_customer_orders(principal: Principal, customer_id: str) -> None:
    """Before a customer is erased: each of its orders (found by the links `_links`
    writes) loses its shipping address."""
    for order_id in repo.linked_ids(CUSTOMERS, service.namespace(principal), customer_id,
                                    ORDERS):
        scrub_order(principal, order_id)


def scrub_order(principal: Principal, order_id: str) -> None:
    """Removes the order's copy of personal data (the shipping address)."""
    def change(record: dict[str, Any]) -> tuple[dict[str, Any], service.Events]:
        if record.pop("shippingAddress", None) is not None:
            record["personalDataErasedAt"] = clock.iso()
        return record, []

    service.mutate(ORDERS, principal, order_id, change, "order.scrub",
                   audit_changes={"shippingAddress": "erased"})
