"""Business resources: each declared once (chalicelib/resources/<name>.py), its routes
derived by crud.expose; below, the few routes of their own (order cancel and payments,
customer erasure, inventory reserve/release)."""

from __future__ import annotations

from chalicelib.http.context import RequestContext
from chalicelib.http.registry import ApiBlueprint, Reply, ok
from chalicelib.resources import crud, customers, inventory, orders
from chalicelib.resources.crud import scopes
from chalicelib.resources.customers import CUSTOMERS
from chalicelib.resources.inventory import INVENTORY, Quantity
from chalicelib.resources.orders import ORDERS, PaymentIn
from chalicelib.resources.products import PRODUCTS
from chalicelib.resources.tickets import TICKETS

api = ApiBlueprint(__name__, "Business resources")

for _resource in (ORDERS, PRODUCTS, CUSTOMERS, INVENTORY, TICKETS):
    crud.expose(api, _resource)


@api.route("/orders/{order_id}", "DELETE", scopes=scopes(ORDERS, True), errors=(409,),
           summary="Cancel an order")
def cancel_order(ctx: RequestContext, order_id: str) -> Reply:
    """A soft cancel: the order stays, with status `cancelled`; raises
    order.status_changed and order.cancelled. A delivered or cancelled order answers 409."""
    return ok(orders.cancel(ctx.actor, order_id))


@api.route("/orders/{order_id}/payments", "POST", scopes=scopes(ORDERS, True),
           body=PaymentIn, status=201, errors=(409,), summary="Record a payment")
def pay_order(ctx: RequestContext, order_id: str, body: PaymentIn) -> Reply:
    """`status` succeeded (default) adds to `amountPaid` and raises payment.received;
    failed is recorded and raises payment.failed. More than the balance, or a cancelled
    order, answers 409."""
    return Reply({"data": orders.pay(ctx.actor, order_id, body)}, 201)


@api.route("/orders/{order_id}/payments", scopes=scopes(ORDERS),
           summary="List an order's payments")
def list_payments(ctx: RequestContext, order_id: str) -> Reply:
    """Oldest first (at most 100)."""
    return ok(orders.payments(ctx.actor, order_id))


@api.route("/customers/{customer_id}", "DELETE", scopes=scopes(CUSTOMERS, True),
           summary="Erase a customer's personal data")
def erase_customer(ctx: RequestContext, customer_id: str) -> Reply:
    """Name, email and phone are replaced by erased markers, the email is freed, and
    the customer's orders lose their shipping address; the id stays, so order history
    stays consistent. Raises customer.deleted (no personal data). Repeatable."""
    return ok(customers.erase(ctx.actor, customer_id))


@api.route("/inventory/{sku}/reserve", "PATCH", scopes=scopes(INVENTORY, True),
           body=Quantity, errors=(409,), summary="Reserve stock")
def reserve_stock(ctx: RequestContext, sku: str, body: Quantity) -> Reply:
    """Moves `quantity` from available to reserved; 409 if fewer are available.
    May raise inventory.low."""
    return ok(inventory.reserve(ctx.actor, sku, body.quantity))


@api.route("/inventory/{sku}/release", "PATCH", scopes=scopes(INVENTORY, True),
           body=Quantity, errors=(409,), summary="Release reserved stock")
def release_stock(ctx: RequestContext, sku: str, body: Quantity) -> Reply:
    """Moves `quantity` from reserved back to available; 409 if fewer are reserved."""
    return ok(inventory.release(ctx.actor, sku, body.quantity))
