"""Tickets: the proof that a resource is a few dozen lines of declaration."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.http.models import Body, ChangeBody
from chalicelib.resources.declaration import Out, Resource, register_events

Priority = Literal["low", "normal", "high", "urgent"]
FLOW: dict[str, tuple[str, ...]] = {"open": ("pending", "resolved", "closed"),
                                    "pending": ("open", "resolved", "closed"),
                                    "resolved": ("open", "closed"), "closed": ()}


class TicketIn(Body):
    subject: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    priority: Priority = "normal"
    assignee: str | None = Field(None, min_length=1, max_length=100)
    customer_id: str | None = Field(None, max_length=64)


class TicketUpdate(ChangeBody):
    subject: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    priority: Priority | None = None
    assignee: str | None = Field(None, min_length=1, max_length=100)


class Ticket(Out):
    id: str = Field(description="The ticket's id (tkt_...).")
    subject: str = Field(description="One line saying what it is about.")
    description: str | None = Field(None, description="Free text.")
    priority: str = Field(description="low | normal | high | urgent")
    status: str = Field(description=" | ".join(FLOW))
    assignee: str | None = Field(None, description="Who works on it.")
    customer_id: str | None = Field(None, description="The customer it concerns (cus_...).")
    created_at: str
    updated_at: str
    # When it last moved to each status (PATCH /status writes `<status>At`).
    open_at: str | None = None
    pending_at: str | None = None
    resolved_at: str | None = None
    closed_at: str | None = None


class TicketStatusChanged(Ticket):
    previous_status: str


def _assigned(old: dict[str, Any] | None, new: dict[str, Any]) -> list[tuple[str, dict]]:
    changed = new.get("assignee") and new.get("assignee") != (old or {}).get("assignee")
    return [("ticket.assigned", TICKETS.present(new))] if changed else []


TICKETS = Resource(
    name="tickets", kind="TICKET", singular="ticket", id_prefix="tkt", model=Ticket,
    create=TicketIn, update=TicketUpdate, id_param="ticket_id",
    example={"id": "tkt_01example", "subject": "Parcel late", "priority": "high",
             "status": "open", "assignee": "sam", "createdAt": "2026-01-01T00:00:00.000Z",
             "updatedAt": "2026-01-01T00:00:00.000Z"},
    enums={"status": tuple(FLOW), "priority": ("low", "normal", "high", "urgent"),
           "assignee": ()},
    sort2="updatedAt", search=("subject", "description"), flow=FLOW, initial_status="open",
    more_events=_assigned,
    events={"created": "ticket.created", "updated": "ticket.updated",
            "status_changed": "ticket.status_changed"})

register_events(TICKETS, {}, {
    "ticket.status_changed": ("A ticket moved to another status.", TicketStatusChanged,
                              {**TICKETS.example, "status": "resolved",
                               "previousStatus": "open"}),
    "ticket.assigned": ("A ticket was assigned (or reassigned).", Ticket, TICKETS.example)})
