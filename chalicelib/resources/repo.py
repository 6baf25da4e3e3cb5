"""The business resources' items in the single table: the only module that spells their
keys. The service reads records through it and commits the write operations it builds,
in one transaction with the change's audit entry and events.

Keys (`<ns>` is `live` or `sandbox`: a sandbox key never reaches live data):
  PK = <KIND>#<ns>#<id>, SK = <KIND>                  the item (a JSON-like record)
  GSI2PK = <KIND>#<ns>, GSI2SK = <createdAt>#<id>     listing, sorted by createdAt
  GSI1PK = <KIND>#<ns>#<field>, GSI1SK = <enc>#<id>   listing sorted by the one further
                                                      declared sort field (`sort2`)
  PK = UNIQUE#<KIND>#<ns>#<field>#<sha256(value)>     a natural key's uniqueness item,
       SK = UNIQUE                                    written in the same transaction
  PK = <parent's PK>, SK = <CHILD KIND>#<child id>    a parent's link to a child (a
                                                      customer's to its orders, for erasure)
  PK = <order's PK>, SK = PAYMENT#<id>                an order's payments
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.core.errors import Conflict
from chalicelib.core.ids import sha256_hex
from chalicelib.events import outbox
from chalicelib.resources.declaration import Resource
from chalicelib.store import table as store
from chalicelib.store.optimistic import LostRace

Op = dict[str, Any]  # an operation of store.transact; "_message" keys explain a failure
INTERNAL = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "ns", "version", "ttl")
UNIQUE = "UNIQUE"
PAYMENT = "PAYMENT"


@dataclass(frozen=True)
class Stored:
    """A resource item as read: its record (the resource's fields, money in cents) and
    the version the next write is conditioned on."""

    record: dict[str, Any]
    version: int


# keys

def _pk(res: Resource, ns: str, item_id: str) -> str:
    return f"{res.kind}#{ns}#{item_id}"


def _key(res: Resource, ns: str, item_id: str) -> dict[str, str]:
    return {"PK": _pk(res, ns, item_id), "SK": res.kind}


def _unique_pk(res: Resource, ns: str, field_name: str, value: Any) -> str:
    return f"{UNIQUE}#{res.kind}#{ns}#{field_name}#{sha256_hex(str(value).lower())[:40]}"


def sort_key(value: Any) -> str:
    """Encodes a value so that string order is value order."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return f"{int(value) + 10**15:016d}"
    return str(value or "").lower()[:100]


def _item(res: Resource, ns: str, record: dict[str, Any], version: int) -> dict[str, Any]:
    rid = record["id"]
    out = {k: v for k, v in record.items() if v is not None}
    out.update({**_key(res, ns, rid), "ns": ns, "version": version,
                "GSI2PK": f"{res.kind}#{ns}", "GSI2SK": f"{record['createdAt']}#{rid}"})
    if res.sort2:
        out["GSI1PK"] = f"{res.kind}#{ns}#{res.sort2}"
        out["GSI1SK"] = f"{sort_key(record.get(res.sort2))}#{rid}"
    return out


def record_of(item: dict[str, Any]) -> dict[str, Any]:
    """The resource's fields of an item (keys and bookkeeping left out)."""
    return {k: v for k, v in item.items() if k not in INTERNAL}


# reads

def load(res: Resource, ns: str, item_id: str) -> Stored | None:
    found = store.get(_pk(res, ns, item_id), res.kind, consistent=True)
    return None if found is None else Stored(record_of(found), int(found["version"]))


def load_many(res: Resource, ns: str, item_ids: list[str]) -> dict[str, Stored]:
    """These records by id, absent ones left out (one consistent BatchGetItem per 100:
    a sync compares a page's records with ours)."""
    found = store.batch_get([(_pk(res, ns, i), res.kind) for i in item_ids], consistent=True)
    items = {i: found.get((_pk(res, ns, i), res.kind)) for i in item_ids}
    return {i: Stored(record_of(item), int(item["version"])) for i, item in items.items()
            if item is not None}


def existing(res: Resource, ns: str, item_ids: list[str]) -> set[str]:
    """Which of these ids exist (one BatchGetItem per 100)."""
    found = store.batch_get([(_pk(res, ns, i), res.kind) for i in item_ids])
    return {i for i in item_ids if (_pk(res, ns, i), res.kind) in found}


def claimed(res: Resource, ns: str, field_name: str, values: list[str]) -> dict[str, str]:
    """The ids holding these natural-key values, by lower-cased value (imports upsert by
    them); one consistent BatchGetItem per 100."""
    keys = {str(v).lower(): (_unique_pk(res, ns, field_name, v), UNIQUE) for v in values}
    found = store.batch_get(list(keys.values()), consistent=True)
    return {v: str(found[k]["target"]) for v, k in keys.items() if k in found}


def page(res: Resource, ns: str, *, by_sort2: bool, cursor: str | None, limit: int,
         forward: bool, created_between: tuple[str, str] | None,
         keep: Callable[[dict[str, Any]], bool] | None
         ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of records sorted by createdAt (optionally within a range) or by the
    declared `sort2`; `keep` filters the records read (None: pages read whole)."""
    if by_sort2:
        index, pk, between = "GSI1", f"{res.kind}#{ns}#{res.sort2}", None
    else:
        index, pk, between = "GSI2", f"{res.kind}#{ns}", created_between
    items, next_cursor = store.query_page(pk, index=index, cursor=cursor, limit=limit,
                                          forward=forward, sk_between=between,
                                          item_filter=keep)
    return [record_of(i) for i in items], next_cursor



def segment_page(res: Resource, ns: str, *, segment: int, segments: int,
                 start: dict[str, Any] | None, limit: int,
                 created_between: tuple[str, str] | None,
                 keep: Callable[[dict[str, Any]], bool] | None
                 ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One page of a parallel Scan's `segment` (of `segments`) keeping this resource's
    records of this namespace (its listing key, and the createdAt range, as the Scan's
    filter; `keep` after reading), in no order, and the key to go on from (None: the
    segment's end). `limit` bounds the items read, not those kept."""
    from boto3.dynamodb.conditions import Attr

    cond: Any = Attr("GSI2PK").eq(f"{res.kind}#{ns}")
    if created_between:
        lo, hi = created_between
        cond = cond & Attr("GSI2SK").between(lo, hi)
    kwargs: dict[str, Any] = {"Segment": segment, "TotalSegments": segments,
                              "FilterExpression": cond, "Limit": limit}
    if start:
        kwargs["ExclusiveStartKey"] = start
    resp = store.table().scan(**kwargs)
    items = [store.plain(i) for i in resp.get("Items", [])]
    kept = [record_of(i) for i in items
            if not store.expired(i) and (keep is None or keep(i))]
    after = resp.get("LastEvaluatedKey")
    return kept, (store.plain(after) if after else None)

def linked_ids(parent: Resource, ns: str, parent_id: str, child: Resource) -> Iterator[str]:
    """The ids of the children linked to this parent (`link_ops`), 100 read at a time."""
    for link in store.query_all(_pk(parent, ns, parent_id), sk_prefix=f"{child.kind}#",
                                forward=True):
        yield str(link["SK"]).split("#", 1)[1]


def linked_page(parent: Resource, ns: str, parent_id: str, child: Resource,
                cursor: str | None, limit: int) -> tuple[list[str], str | None]:
    """A page of `linked_ids` and the cursor after it (an export resumes there)."""
    links, after = store.query_page(_pk(parent, ns, parent_id), sk_prefix=f"{child.kind}#",
                                    cursor=cursor, limit=limit, forward=True)
    return [str(link["SK"]).split("#", 1)[1] for link in links], after


def payments(orders: Resource, ns: str, order_id: str, limit: int = 100
             ) -> list[dict[str, Any]]:
    """An order's payments, oldest first."""
    items, _ = store.query_page(_pk(orders, ns, order_id), sk_prefix=f"{PAYMENT}#",
                                limit=limit, forward=True)
    return [record_of(i) for i in items]


# write operations (committed together by `commit`)

def create_op(res: Resource, ns: str, record: dict[str, Any]) -> tuple[dict[str, Any], Op]:
    """The record as it will be stored (version 1), and its put, refused if the id is
    taken."""
    item = _item(res, ns, record, 1)
    return record_of(item), {"Put": {"Item": item,
                                     "ConditionExpression": "attribute_not_exists(PK)"}}


def replace_op(res: Resource, ns: str, record: dict[str, Any],
               read: Stored) -> tuple[dict[str, Any], Op]:
    """The record as it will be stored over the one read, and its put, refused if anyone
    wrote in between."""
    item = _item(res, ns, record, read.version + 1)
    return record_of(item), {"Put": {"Item": item, "ConditionExpression": "version = :v",
                                     "ExpressionAttributeValues": {":v": read.version}}}


def delete_op(res: Resource, ns: str, read: Stored) -> Op:
    """The item's deletion, refused if anyone wrote since it was read."""
    return {"Delete": {"Key": _key(res, ns, read.record["id"]),
                       "ConditionExpression": "version = :v",
                       "ExpressionAttributeValues": {":v": read.version}}}


def unique_ops(res: Resource, ns: str, record: dict[str, Any] | None,
               previous: dict[str, Any] | None) -> list[Op]:
    """Claims the natural keys `record` takes (refused if taken) and frees those it
    leaves behind (`record` None: the item is deleted)."""
    ops: list[Op] = []
    for name in res.unique:
        old = (previous or {}).get(name)
        new = (record or {}).get(name)
        if previous is not None and str(old or "").lower() == str(new or "").lower():
            continue
        if new and record is not None:
            ops.append({"Put": {"Item": {"PK": _unique_pk(res, ns, name, new), "SK": UNIQUE,
                                         "target": record["id"]},
                                "ConditionExpression": "attribute_not_exists(PK)"},
                        "_message": f"A {res.singular} with this {name} already exists."})
        if old:
            ops.append({"Delete": {"Key": {"PK": _unique_pk(res, ns, name, old),
                                           "SK": UNIQUE}}})
    return ops


def link_ops(parent: Resource, ns: str, parent_id: str, child: Resource, child_id: str,
             created_at: str, *, parent_without: str, message: str) -> list[Op]:
    """The parent's link to a new child, on condition that the parent exists and has no
    `parent_without` attribute (`message` says so otherwise)."""
    return [{"Put": {"Item": {"PK": _pk(parent, ns, parent_id), "SK": f"{child.kind}#{child_id}",
                              "createdAt": created_at}}},
            {"ConditionCheck": {"Key": _key(parent, ns, parent_id),
                                "ConditionExpression": "attribute_exists(PK) AND "
                                                       "attribute_not_exists(#w)",
                                "ExpressionAttributeNames": {"#w": parent_without}},
             "_message": message}]


def payment_op(orders: Resource, ns: str, order_id: str, payment: dict[str, Any]) -> Op:
    return {"Put": {"Item": {**payment, "PK": _pk(orders, ns, order_id),
                             "SK": f"{PAYMENT}#{payment['id']}"}}}


def counter_op(res: Resource, ns: str, item_id: str, update: str, condition: str,
               names: dict[str, str], values: dict[str, Any]) -> Op:
    """An in-place update of an existing item (counters), on `condition`."""
    return {"Update": {"Key": _key(res, ns, item_id), "UpdateExpression": update,
                       "ConditionExpression": f"attribute_exists(PK) AND {condition}",
                       "ExpressionAttributeNames": names,
                       "ExpressionAttributeValues": values}}


def commit(res: Resource, ops: list[Op], events: list[dict[str, Any]], *,
           raced: bool = False) -> None:
    """One transaction: the change, its uniqueness items, its audit entry, its events.
    With `raced`, the first op is conditioned on the state read: its failure (or a
    concurrent transaction on it) raises LostRace, to read again. Any other failure is a
    Conflict saying what stood in the way."""
    try:
        outbox.transact([{k: v for k, v in op.items() if not k.startswith("_")}
                         for op in ops], events)
    except store.TransactionConflict as exc:
        # The read state changed (the first op's condition), or another transaction was
        # on any of these items at once: either way, read again and retry.
        if raced and (exc.reasons[:1] == ["ConditionalCheckFailed"]
                      or "TransactionConflict" in exc.reasons):
            raise LostRace from exc
        raise Conflict(_conflict_message(res, ops, exc.reasons)) from exc


def _conflict_message(res: Resource, ops: list[Op], reasons: list[str]) -> str:
    for op, reason in zip(ops, reasons, strict=False):
        if reason != "ConditionalCheckFailed":
            continue
        if "_message" in op:
            return str(op["_message"])
        if op.get("Put", {}).get("Item", {}).get("SK") == res.kind:
            return f"A {res.singular} with this id already exists."
        return "A referenced item changed or does not exist."
    return "The request conflicts with the current state."
