"""A data subject's export (GDPR art. 15 and 20, beside the erasure of art. 17 that
resources/customers.py does): everything held about one customer, as one JSON document
(subject_writer.py), made by an export job like any other and downloaded like one.

  subject      whom it is about, and whether their personal data was erased
  customer     the record, as GET /customers/{id} answers it
  orders       their orders (the customer's links to them, as erasure finds them), as
               GET /orders/{id} answers them, each with its payments
  tickets      support tickets naming the customer (customerId)
  events       the event copies linked to them (events/privacy.py), as sent
  deliveries   the webhook deliveries of those events: recipient webhook, status,
               attempts (time, status, duration) and the payload as sent

Each section is read a page at a time (links 100 at a time, orders 50, tickets as a
filtered listing of 2,500), the cursor naming the section and the place in it, so the
job checkpoints and resumes like any export and never holds a customer's history whole.
The receivers' answers in the attempt log are theirs (erasure leaves them too) and are
not included. An erased customer's export holds what is left: the stub, their orders
without addresses, and no copies (erasure rewrote them and dropped their links).

Only an admin runs it (a sandbox principal of an admin owner: on the sandbox's
customers), and the job keeps needing that right while it runs and to be downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from chalicelib.core import clock
from chalicelib.core.errors import Forbidden, NotFound, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.core.scopes import allows
from chalicelib.events import outbox, privacy
from chalicelib.exchange.exports import sources
from chalicelib.jobs.kinds import JobFailed
from chalicelib.jobs.model import Job
from chalicelib.resources import repo
from chalicelib.resources.customers import CUSTOMERS
from chalicelib.resources.declaration import Resource
from chalicelib.resources.orders import ORDERS
from chalicelib.resources.tickets import TICKETS
from chalicelib.store import table as store
from chalicelib.webhooks.delivery import repo as deliveries

if TYPE_CHECKING:
    from chalicelib.exchange.exports.models import CreateExport
    from chalicelib.exchange.formats import Field, Writer

NAME = "customer_subject"
LINK_PAGE = 100       # event or delivery links per page
ORDER_PAGE = 50       # orders per page (each read with its payments)
TICKET_PAGE = 2500    # tickets read per page (a filtered listing, as exports read)
MAX_PAYMENTS = 1000   # an order's payments read (repo.payments' one Query)
# What a sandbox principal of an admin owner needs (a sandbox never holds `admin`) to
# get the whole file; its deliveries section holds webhook deliveries (other owners'
# sandbox webhooks' too), which are read with webhooks:manage.
SANDBOX_READS = ("customers:read", "orders:read", "tickets:read", "webhooks:manage")
_T = "2026-01-01T00:00:00.000Z"

_SECTIONS: tuple[tuple[str, str, str, Any], ...] = (
    ("generatedAt", "datetime", "When the export started (UTC).", _T),
    ("subject", "object", "Whom the export is about: type, id, namespace, status, "
     "erasedAt, and a note when their personal data was erased.",
     {"type": "customer", "id": "cus_01example", "namespace": "live", "status": "active",
      "erased": False}),
    ("customer", "object", "The customer's record as GET /customers/{id} answers it.",
     CUSTOMERS.example),
    ("orders", "array", "Their orders as GET /orders/{id} answers them, each with "
     "`payments` (as GET /orders/{id}/payments answers them).", [ORDERS.example]),
    ("tickets", "array", "Support tickets naming the customer.", [TICKETS.example]),
    ("events", "array", "Copies of events that carried their personal data, kept in the "
     "outbox for 7 days: {id, event, timestamp, data} as sent.",
     [{"id": "evt_01example", "event": "customer.created", "timestamp": _T, "data": {}}]),
    ("deliveries", "array", "Webhook deliveries of those events (kept 30 days): id, "
     "webhookId (the recipient), event, eventId, status, attempts (attempt, at, status, "
     "durationMs, error), createdAt, updatedAt and the payload as sent.",
     [{"id": "dlv_01example", "webhookId": "whk_01example", "event": "customer.created",
       "status": "delivered", "payload": {}}]),
)


def authorize(actor: Principal) -> None:
    """An admin; or a sandbox principal (which never holds `admin`) whose owner is an
    admin now and that reads what the export holds."""
    if actor.is_admin:
        return
    if actor.sandbox and allows(actor.scopes, SANDBOX_READS) and _admin_owner(actor.owner):
        return
    raise Forbidden("A data subject's export is an admin's to run.",
                    details=[{"field": "scope", "message": "needs admin"}])


def _admin_owner(owner: str) -> bool:
    from chalicelib.auth.owners import current_scopes

    return "admin" in current_scopes([owner]).get(owner, frozenset())


def params_for(actor: Principal, customer_id: str) -> dict[str, Any]:
    """The job's params of the customer's export (403 unless admin, 404 for a customer
    not in the actor's namespace)."""
    authorize(actor)
    ns = "sandbox" if actor.sandbox else "live"
    if repo.load(CUSTOMERS, ns, customer_id) is None:
        raise NotFound(f"No customer with id {customer_id}.")
    return {"entity": NAME, "format": "json", "fields": None,
            "filters": {"customerId": customer_id}, "options": {}}


class SubjectExport(sources.Exportable):
    name = NAME
    listed = False

    def params(self, actor: Principal, body: CreateExport) -> dict[str, Any]:
        raise Unprocessable("A data subject's export is made with POST "
                            "/api/v1/customers/{id}/export.", details=[
                                {"field": "entity", "message": "not exported here"}])

    def required_scopes(self, job: Job) -> list[str]:
        return ["exports:run", *(SANDBOX_READS if job.sandbox else ("admin",))]

    def require(self, actor: Principal, job: Job) -> None:
        authorize(actor)

    def open(self, job: Job) -> sources.Source:
        if job.sandbox and not _admin_owner(job.owner):
            raise JobFailed("AUTHORIZATION_ERROR", "The job's owner is no longer an admin.")
        return SubjectSource(job)


def _dictionary() -> list[Field]:
    from chalicelib.exchange.formats import Field

    return [Field(n, t, d, e) for n, t, d, e in _SECTIONS]  # type: ignore[arg-type]


def _described(res: Resource) -> list[dict[str, Any]]:
    out = []
    for f in sources.dictionary(res, res.field_names()):
        entry = asdict(f)
        del entry["required"]
        out.append(entry)
    return out


class SubjectSource(sources.Source):
    entity = NAME

    def __init__(self, job: Job) -> None:
        self.ns = "sandbox" if job.sandbox else "live"
        self.customer_id = str((job.params.get("filters") or {}).get("customerId", ""))
        self.subject = f"{self.ns}#{self.customer_id}"  # as erasure names the links
        self.fields = _dictionary()
        self._readers: dict[str, Callable[[str | None], tuple[list[Any], str | None]]] = {
            "customer": self._customer, "orders": self._orders, "tickets": self._tickets,
            "events": self._events, "deliveries": self._deliveries}
        self.order = list(self._readers)

    # -- the Source -------------------------------------------------------------------
    def page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        at: dict[str, Any] = json.loads(cursor) if cursor else {"section": self.order[0],
                                                                "in": None}
        section = str(at["section"])
        rows, after = self._readers[section](at["in"])
        if after is not None:
            return rows, json.dumps({"section": section, "in": after})
        following = self.order.index(section) + 1
        if following == len(self.order):
            return rows, None
        return rows, json.dumps({"section": self.order[following], "in": None})

    def open_writer(self, fmt: str, options: Mapping[str, Any]) -> Writer:
        from chalicelib.exchange.exports.subject_writer import SubjectWriter

        return SubjectWriter(self.fields, entity=NAME, generated_at=clock.iso())

    def resume_writer(self, state: Mapping[str, Any]) -> Writer:
        from chalicelib.exchange.exports.subject_writer import SubjectWriter

        return SubjectWriter.resume(state, self.fields)

    def about(self) -> dict[str, Any]:
        return {"customerId": self.customer_id, "namespace": self.ns, "sections": {
            "customer": _described(CUSTOMERS), "orders": _described(ORDERS),
            "tickets": _described(TICKETS)}}

    # -- the sections ---------------------------------------------------------------
    def _customer(self, _cursor: str | None) -> tuple[list[Any], str | None]:
        stored = repo.load(CUSTOMERS, self.ns, self.customer_id)
        if stored is None:
            raise JobFailed("NOT_FOUND", f"No customer with id {self.customer_id}.")
        record = CUSTOMERS.present(stored.record)
        about: dict[str, Any] = {"type": "customer", "id": self.customer_id,
                                 "namespace": self.ns, "status": record.get("status"),
                                 "erased": record.get("status") == "erased"}
        if about["erased"]:
            about.update(erasedAt=record.get("erasedAt"), note=(
                "This customer's personal data was erased; the export holds what is "
                "left: the record's stub (name replaced, email and phone removed), their "
                "orders without shipping addresses, and no event or delivery copies "
                "(erasure rewrote them and removed their links to the customer)."))
        return [{"section": "subject", "value": about},
                {"section": "customer", "value": record}], None

    def _orders(self, cursor: str | None) -> tuple[list[Any], str | None]:
        ids, after = repo.linked_page(CUSTOMERS, self.ns, self.customer_id, ORDERS, cursor,
                                      ORDER_PAGE)
        rows = []
        for order_id in ids:
            stored = repo.load(ORDERS, self.ns, order_id)
            if stored is None:
                continue
            order = ORDERS.present(stored.record)
            order["payments"] = [ORDERS.present(p) for p in
                                 repo.payments(ORDERS, self.ns, order_id, MAX_PAYMENTS)]
            rows.append({"section": "orders", "value": order})
        return rows, after

    def _tickets(self, cursor: str | None) -> tuple[list[Any], str | None]:
        cid = self.customer_id
        records, after = repo.page(TICKETS, self.ns, by_sort2=False, cursor=cursor,
                                   limit=TICKET_PAGE, forward=True, created_between=None,
                                   keep=lambda r: r.get("customerId") == cid)
        return [{"section": "tickets", "value": TICKETS.present(r)} for r in records], after

    def _links(self, prefix: str, cursor: str | None) -> tuple[list[str], str | None]:
        links, after = store.query_page(privacy.subject_pk(self.subject), sk_prefix=prefix,
                                        cursor=cursor, limit=LINK_PAGE, forward=True)
        return [str(link["SK"]).removeprefix(prefix) for link in links], after

    def _events(self, cursor: str | None) -> tuple[list[Any], str | None]:
        ids, after = self._links(outbox.LINK, cursor)
        rows = []
        for event_id in ids:
            event = outbox.current({"id": event_id})
            if "event" in event:  # gone (expired) otherwise: `current` answers what it got
                rows.append({"section": "events", "value": outbox.public_body(event)})
        return rows, after

    def _deliveries(self, cursor: str | None) -> tuple[list[Any], str | None]:
        ids, after = self._links(deliveries.LINK, cursor)
        found = deliveries.batch_get(ids) if ids else {}
        return [{"section": "deliveries", "value": _delivery(found[i])}
                for i in ids if i in found], after


def _delivery(item: dict[str, Any]) -> dict[str, Any]:
    try:
        payload = json.loads(item.get("body") or "null")
    except ValueError:
        payload = None
    out = {k: item.get(k) for k in ("id", "webhookId", "event", "eventId", "status",
                                    "attemptCount", "createdAt", "updatedAt")}
    out["attempts"] = [{k: a[k] for k in ("attempt", "at", "status", "durationMs", "error")
                        if k in a} for a in item.get("attempts", [])]
    out["payload"] = payload
    return out


sources.register(SubjectExport())
