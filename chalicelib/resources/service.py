"""The generic operations every declared resource gets: list, get, create, update,
delete and status transitions. Each write commits its change, its uniqueness items, its
audit entry and its events in one transaction (the outbox)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.core import clock, ids
from chalicelib.core.errors import (
    AppError,
    Conflict,
    NotFound,
    Unprocessable,
    ValidationFailed,
)
from chalicelib.core.principal import Principal
from chalicelib.events import audit, catalog, outbox
from chalicelib.resources import repo
from chalicelib.resources.declaration import Resource, cents
from chalicelib.resources.repo import Stored
from chalicelib.store import optimistic

Events = list[tuple[str, dict[str, Any]]]


def namespace(principal: Principal) -> str:
    return "sandbox" if principal.sandbox else "live"


def new_event(ns: str, event_type: str, data: dict[str, Any],
              res: Resource | None = None) -> dict[str, Any]:
    """The event, its data built by the catalog's model of its type (so it is what
    GET /webhooks/events publishes), with whose personal data it carries."""
    data = catalog.payload(event_type, data)
    subject = res.data_subject(data) if res else None
    if not subject or res is None:
        return outbox.new_event(event_type, data, sandbox=ns == "sandbox")
    return outbox.new_event(event_type, data, sandbox=ns == "sandbox",
                            subject=f"{ns}#{subject}",
                            personal={f: res.erased.get(f) for f in res.personal})


def load(res: Resource, ns: str, item_id: str) -> Stored:
    found = repo.load(res, ns, item_id)
    if found is None:
        raise NotFound(f"No {res.singular} with id {item_id}.")
    return found


def _fields(res: Resource, raw: str | None) -> list[str] | None:
    if not raw:
        return None
    wanted = [f.strip() for f in raw.split(",") if f.strip()]
    known = set(res.field_names())
    bad = [f for f in wanted if f not in known]
    if bad:
        raise ValidationFailed("Unknown fields requested.", details=[
            {"field": "fields", "message": f"unknown field {f!r}"} for f in bad])
    return wanted


def get(res: Resource, principal: Principal, item_id: str,
        fields: str | None = None) -> dict[str, Any]:
    return res.present(load(res, namespace(principal), item_id).record, _fields(res, fields))


def _one_of(name: str, wanted: set[str]) -> Callable[[dict[str, Any]], bool]:
    return lambda item: str(item.get(name)) in wanted


def _within(name: str, lo: Any, hi: Any) -> Callable[[dict[str, Any]], bool]:
    def check(item: dict[str, Any]) -> bool:
        value = item.get(name)
        if value is None:
            return False
        return (lo is None or value >= lo) and (hi is None or value <= hi)

    return check


Keep = Callable[[dict[str, Any]], bool]


def selection(res: Resource, query: Any) -> tuple[Keep | None, tuple[str, str] | None]:
    """What a listing query's filters keep (None: every record) and the createdAt range
    they bound the index read to; contradictions raise ValidationFailed. Exports select
    their rows with it too."""
    predicates: list[Keep] = []
    details = []
    for name, allowed in res.enums.items():
        raw = getattr(query, f"f_{name}")
        if raw:
            wanted = {v.strip() for v in raw.split(",") if v.strip()}
            bad = sorted(wanted - set(allowed)) if allowed else []
            if bad:
                details.append({"field": name, "message": f"unknown value(s): {', '.join(bad)}"})
            predicates.append(_one_of(name, wanted))
    for name in res.ranges:
        lo, hi = getattr(query, f"r_{name}_min"), getattr(query, f"r_{name}_max")
        if name in res.money:
            lo, hi = cents(lo), cents(hi)
        if lo is not None and hi is not None and lo > hi:
            details.append({"field": f"{name}Min", "message": f"greater than {name}Max"})
        if lo is not None or hi is not None:
            predicates.append(_within(name, lo, hi))
    after = clock.iso(query.created_after.timestamp()) if query.created_after else None
    before = clock.iso(query.created_before.timestamp()) if query.created_before else None
    if after and before and after > before:
        details.append({"field": "createdAfter", "message": "later than createdBefore"})
    if details:
        raise ValidationFailed("Some query parameters are not valid.", details=details)
    if after:
        predicates.append(lambda i: i["createdAt"] >= after)
    if before:
        predicates.append(lambda i: i["createdAt"] < before)
    needle = (getattr(query, "q", None) or "").lower()
    if needle:
        predicates.append(lambda i: any(needle in str(i.get(f) or "").lower()
                                        for f in res.search))

    def keep(item: dict[str, Any]) -> bool:
        return all(p(item) for p in predicates)

    between = (after or "0", before or "9") if (after or before) else None
    return (keep if predicates else None), between


def list_items(res: Resource, principal: Principal,
               query: Any) -> tuple[list[dict[str, Any]], str | None]:
    ns = namespace(principal)
    fields = _fields(res, query.fields)
    keep, between = selection(res, query)
    records, next_cursor = repo.page(res, ns, by_sort2=query.sort != "createdAt",
                                     cursor=query.cursor, limit=query.per_page,
                                     forward=query.order == "asc", created_between=between,
                                     keep=keep)  # None: pages read whole, no over-read
    return [res.present(r, fields) for r in records], next_cursor


def _record_from(body: Any, fields_set: set[str] | None = None) -> dict[str, Any]:
    """The body as a camelCase record; money in cents."""
    data = body.model_dump(by_alias=True, mode="python",
                           include=fields_set if fields_set is not None else None)
    return {k: stored(v) for k, v in data.items()}


def stored(value: Any) -> Any:
    """A body's value as a record keeps it (money in cents): what a writer compares with
    a stored record (a sync deciding whether anything changed)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return cents(value)
    if isinstance(value, dict):
        return {k: stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stored(v) for v in value]
    return value


def create(res: Resource, principal: Principal, body: Any,
           item_id: str | None = None) -> dict[str, Any]:
    """`item_id`: the id to give it (imports derive one from the row, so a chunk applied
    again finds its rows); by default a new one."""
    prepared = prepare_create(res, principal, body, item_id)
    repo.commit(res, prepared.ops, prepared.events)
    return prepared.presented


@dataclass(frozen=True)
class Prepared:
    """A create's writes, not yet committed: a bulk writer commits several together."""
    ops: list[dict[str, Any]]
    events: list[dict[str, Any]]
    presented: dict[str, Any]

    @property
    def keys(self) -> set[tuple[str, str]]:
        """The table items its operations touch (a transaction may touch each once)."""
        out: set[tuple[str, str]] = set()
        for op in self.ops:
            body = next(iter(op.values()))
            key = body.get("Item") or body.get("Key") or {}
            out.add((str(key.get("PK")), str(key.get("SK"))))
        return out

    @property
    def items(self) -> int:
        """The transaction items it takes (an event is its outbox item, and a link to
        the person whose data it carries)."""
        return len(self.ops) + sum(2 if e.get("subject") else 1 for e in self.events)


def prepare_create(res: Resource, principal: Principal, body: Any,
                   item_id: str | None = None) -> Prepared:
    ns = namespace(principal)
    record = _record_from(body)
    now = clock.iso()
    record["id"] = (str(record[res.id_field]) if res.id_field
                    else item_id or ids.new_id(res.id_prefix))
    record.update(createdAt=now, updatedAt=now)
    if res.flow is not None:
        record["status"] = res.initial_status
    if res.build:
        record = res.build(ns, record, None)
    written, put = repo.create_op(res, ns, record)
    events = _events(res, ns, "created", None, written)
    ops = [put, *repo.unique_ops(res, ns, record, None),
           *(res.create_ops(ns, record) if res.create_ops else []),
           audit.put_op(audit.entry(principal, f"{res.singular}.create", res.singular,
                                    record["id"], {**_unpersonal(res, record),
                                                   "sandbox": ns == "sandbox"}))]
    return Prepared(ops, events, res.present(written))


def create_many(res: Resource, principal: Principal, prepared: list[Prepared]) -> None:
    """Several prepared creates in one transaction (all or none: a conflict raises and
    the caller retries them one by one to learn which). DynamoDB takes 100 items per
    transaction, and one operation per item: see create_batched."""
    ops = [op for p in prepared for op in p.ops]
    repo.commit(res, ops, [e for p in prepared for e in p.events])


TRANSACTION_ITEMS = 100  # DynamoDB's limit per transaction


def create_batched(res: Resource, principal: Principal, prepared: list[Prepared]
                   ) -> list[tuple[int, AppError]]:
    """Commits prepared creates (a bulk writer's: an import's chunk, a sync's page) in as
    few transactions as DynamoDB allows: up to TRANSACTION_ITEMS items each, and never
    two operations on one item (two orders of one customer both check it: they go in
    different transactions). A refused transaction is retried create by create, so only
    the one that conflicts fails. Answers (index in `prepared`, its error) of those."""
    groups: list[list[int]] = []
    size, touched = 0, set[tuple[str, str]]()
    for i, p in enumerate(prepared):
        keys = p.keys
        if not groups or size + p.items > TRANSACTION_ITEMS or keys & touched:
            groups.append([])
            size, touched = 0, set()
        groups[-1].append(i)
        size += p.items
        touched |= keys
    failed: list[tuple[int, AppError]] = []
    for group in groups:
        try:
            create_many(res, principal, [prepared[i] for i in group])
            continue
        except AppError as exc:
            if len(group) == 1:
                failed.append((group[0], exc))
                continue
        for i in group:
            try:
                create_many(res, principal, [prepared[i]])
            except AppError as exc:
                failed.append((i, exc))
    return failed


def _events(res: Resource, ns: str, what: str, previous: dict[str, Any] | None,
            record: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    name = res.event_type(what)
    if name:
        out.append(new_event(ns, name, res.present(record), res))
    if res.more_events:
        out += [new_event(ns, t, d, res) for t, d in res.more_events(previous, record)]
    return out


def mutate(res: Resource, principal: Principal, item_id: str,
           change: Callable[[dict[str, Any]], tuple[dict[str, Any], Events]],
           action: str, extra_ops: Callable[[dict[str, Any], dict[str, Any]],
                                            list[dict[str, Any]]] | None = None,
           audit_changes: dict[str, Any] | None = None,
           ) -> dict[str, Any]:
    """Read, change, write back if nobody else wrote in between (optimistic, on
    `version`), with the change's events and audit entry; retried on a lost race."""
    ns = namespace(principal)

    def attempt() -> dict[str, Any]:
        current = load(res, ns, item_id)
        record = dict(current.record)
        stamp = clock.iso()  # seen by `change` too, so its events carry the written one
        new_record, events = change({**record, "updatedAt": stamp})
        new_record["updatedAt"] = stamp
        written, put = repo.replace_op(res, ns, new_record, current)
        ops = [put, *repo.unique_ops(res, ns, new_record, record),
               *(extra_ops(record, new_record) if extra_ops else []),
               audit.put_op(audit.entry(principal, action, res.singular, item_id, _unpersonal(
                   res, audit_changes if audit_changes is not None else new_record)))]
        evs = [new_event(ns, t, d if d else res.present(written), res) for t, d in events]
        repo.commit(res, ops, evs, raced=True)
        return res.present(written)

    return optimistic.retry(attempt, conflict=_concurrently(res))


def _concurrently(res: Resource) -> str:
    return f"The {res.singular} changed concurrently; try again."


def _unpersonal(res: Resource, changes: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in res.personal and v is not None else v) for k, v in changes.items()}


class Unchanged(Exception):  # noqa: N818 - an outcome, not a failure
    """An update that would change nothing (with `skip_unchanged`): nothing written."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__("unchanged")
        self.record = record


def update(res: Resource, principal: Principal, item_id: str, body: Any, *,
           skip_unchanged: bool = False) -> dict[str, Any]:
    """With `skip_unchanged` (a bulk writer applying a row again), a change that leaves
    the record as it is writes nothing and raises no event: it raises Unchanged."""
    given = body.model_fields_set
    if not given:
        raise Unprocessable("Send at least one field to change.",
                            details=[{"field": "body", "message": "no fields"}])
    changes = _record_from(body, given)
    required = {f.alias or n for n, f in res.create.model_fields.items() if f.is_required()}
    nulls = [k for k, v in changes.items() if v is None and k in required]
    if nulls:
        raise Unprocessable("Some fields are not valid.", details=[
            {"field": k, "message": "may not be null"} for k in nulls])

    def change(record: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        previous = dict(record)
        for k, v in changes.items():
            if v is None:
                record.pop(k, None)
            else:
                record[k] = v
        if res.build:
            record = res.build(namespace(principal), record, previous)
        if skip_unchanged and record == previous:
            raise Unchanged(res.present(previous))
        events: Events = []
        if res.event_type("updated"):
            events.append((str(res.event_type("updated")), {}))
        if res.more_events:
            events += res.more_events(previous, {**record, "id": item_id})
        return record, events

    return mutate(res, principal, item_id, change, f"{res.singular}.update",
                  audit_changes=changes)


def transition(res: Resource, principal: Principal, item_id: str,
               status: str) -> dict[str, Any]:
    """A validated status change (409 when the flow does not allow it)."""
    flow = res.flow or {}
    if status not in flow:
        raise Unprocessable("Unknown status.", details=[
            {"field": "status", "message": f"one of: {', '.join(flow)}"}])

    def change(record: dict[str, Any]) -> tuple[dict[str, Any], Events]:
        old = record.get("status", "")
        previous = dict(record)
        if status not in flow.get(old, ()):
            raise Conflict(f"A {res.singular} cannot go from {old} to {status}.",
                           details=[{"field": "status", "from": old, "to": status,
                                     "allowed": list(flow.get(old, ()))}])
        record["status"] = status
        record[f"{status}At"] = clock.iso()
        events: Events = []
        name = res.event_type("status_changed")
        if name:
            data = res.present({**record, "id": item_id})
            events.append((name, {**data, "previousStatus": old}))
        if res.more_events:  # the resource's own, as on any other change
            events += res.more_events(previous, {**record, "id": item_id})
        return record, events

    return mutate(res, principal, item_id, change, f"{res.singular}.status",
                  audit_changes={"status": status})


def delete(res: Resource, principal: Principal, item_id: str) -> None:
    ns = namespace(principal)

    def attempt() -> None:
        current = load(res, ns, item_id)
        ops = [repo.delete_op(res, ns, current), *repo.unique_ops(res, ns, None, current.record),
               audit.put_op(audit.entry(principal, f"{res.singular}.delete", res.singular,
                                        item_id, {}))]
        events = []
        deleted = res.event_type("deleted")
        if deleted:
            events.append(new_event(ns, deleted, {"id": item_id, "deletedAt": clock.iso()}))
        repo.commit(res, ops, events, raced=True)

    optimistic.retry(attempt, conflict=_concurrently(res))
