"""Customers: email unique (case-insensitive, held as a hash); DELETE erases personal
data but keeps the id, so orders still reference it (their shipping addresses are
scrubbed first, by the hook orders registers with `holds_personal_data`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field

from chalicelib.core import clock
from chalicelib.core.errors import Conflict
from chalicelib.core.principal import Principal
from chalicelib.http.models import Body, ChangeBody
from chalicelib.resources import service
from chalicelib.resources.declaration import Out, Resource, register_events

EMAIL = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"
PHONE = r"^\+?[0-9 ()\-]{5,20}$"
ERASED = "[erased]"


class CustomerIn(Body):
    email: str = Field(max_length=254, pattern=EMAIL)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(None, pattern=PHONE)


class CustomerUpdate(ChangeBody):
    email: str | None = Field(None, max_length=254, pattern=EMAIL)
    name: str | None = Field(None, min_length=1, max_length=200)
    phone: str | None = Field(None, pattern=PHONE)


class Customer(Out):
    id: str = Field(description="The customer's id (cus_...).")
    email: str | None = Field(None, description="Absent once erased.")
    name: str = Field(description=f"{ERASED!r} once erased.")
    phone: str | None = Field(None, description="Phone number as given; absent once erased.")
    status: str = Field(description="active | erased")
    created_at: str
    updated_at: str
    erased_at: str | None = Field(None, description="When its personal data was erased.")


class CustomerErased(Out):
    id: str
    erased_at: str


def _build(ns: str, record: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    if previous is not None and previous.get("status") == "erased":
        raise Conflict("This customer's personal data was erased; it cannot change.")
    record.setdefault("status", "active")
    return record


CUSTOMERS = Resource(
    name="customers", kind="CUSTOMER", singular="customer", id_prefix="cus",
    model=Customer, create=CustomerIn, update=CustomerUpdate, id_param="customer_id",
    example={"id": "cus_01example", "email": "ada@example.com", "name": "Ada Lovelace",
             "status": "active", "createdAt": "2026-01-01T00:00:00.000Z",
             "updatedAt": "2026-01-01T00:00:00.000Z"},
    unique=("email",), enums={"status": ("active", "erased")}, sort2="name",
    search=("name", "email"), build=_build, delete_mode="custom",
    personal=("name", "email", "phone"), subject="id", erased={"name": ERASED},
    events={"created": "customer.created", "updated": "customer.updated",
            "deleted": "customer.deleted"})

register_events(CUSTOMERS, {}, {"customer.deleted": (
    "A customer's personal data was erased (no personal data in the event).",
    CustomerErased, {"id": "cus_01example", "erasedAt": "2026-01-02T00:00:00.000Z"})})


# What other resources do to their copies of a customer's personal data before the
# customer is erased: (principal, customer id) -> None, repeatable. They register here
# (orders scrubs its shipping addresses) so that customers imports none of them.
Scrubber = Callable[[Principal, str], None]
HOLDERS: list[Scrubber] = []


def holds_personal_data(scrub: Scrubber) -> Scrubber:
    """Registers `scrub` to run on every erasure, before the customer's own record."""
    HOLDERS.append(scrub)
    return scrub


def erase(principal: Principal, customer_id: str) -> dict[str, Any]:
    """Runs the registered scrubbers (the shipping addresses of the customer's orders),
    then replaces name, email and phone by erased markers, frees the email, and raises
    customer.deleted; last, rewrites the copies in past events and webhook deliveries
    (privacy.py). Safe to repeat: a crash midway leaves the customer for a second DELETE."""
    from chalicelib.events import privacy

    ns = service.namespace(principal)
    customer = service.load(CUSTOMERS, ns, customer_id).record
    if customer.get("status") == "erased":
        privacy.erase(f"{ns}#{customer_id}")
        return CUSTOMERS.present(customer)
    for scrub in HOLDERS:
        scrub(principal, customer_id)

    def change(record: dict[str, Any]) -> tuple[dict[str, Any], service.Events]:
        if record.get("status") == "erased":
            return record, []
        now = clock.iso()
        record.pop("email", None)
        record.pop("phone", None)
        record.update(name=ERASED, status="erased", erasedAt=now)
        return record, [("customer.deleted", {"id": customer_id, "erasedAt": now})]

    erased = service.mutate(CUSTOMERS, principal, customer_id, change, "customer.erase",
                            audit_changes={"erased": True})
    privacy.erase(f"{ns}#{customer_id}")
    return erased
