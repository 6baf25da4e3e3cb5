"""The one DynamoDB table: key design, conditional writes, pagination cursors.

Key design (single table, documented in README):
  PK / SK            the item's identity, e.g. CLIENT#<id> / CLIENT
  GSI1PK / GSI1SK    listings by owner:  OWNER#<owner>#<type> / <createdAt>#<id>
  GSI2PK / GSI2SK    listings by type (admin views, logs by day): <TYPE>#... / <ts>#<id>
  ttl                epoch seconds; DynamoDB TTL deletes late, so every read checks it too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from chalicelib.core import aws, clock
from chalicelib.core.errors import Conflict, ValidationFailed
from chalicelib.core.settings import get_settings

KEY_ATTRS = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")
FILTER_READ_STEP = 100
FILTER_READ_BUDGET = 1000  # items one filtered page may read


_table: tuple[Any, str, Any] | None = None


def table() -> Any:
    """The Table handle, built once per resource and name: building one costs about 2 ms
    of model loading, and the handle only wraps the resource's thread-safe client."""
    global _table
    resource, name = aws.resource("dynamodb"), get_settings().table_name
    cached = _table
    if cached is None or cached[0] is not resource or cached[1] != name:
        cached = _table = (resource, name, resource.Table(name))
    return cached[2]


def client() -> Any:
    return aws.client("dynamodb")


def plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets back into JSON-friendly Python values."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


def expired(item: dict[str, Any] | None) -> bool:
    if not item:
        return True
    ttl = item.get("ttl")
    return ttl is not None and float(ttl) <= clock.now()


def get(pk: str, sk: str, consistent: bool = False) -> dict[str, Any] | None:
    found = table().get_item(Key={"PK": pk, "SK": sk}, ConsistentRead=consistent).get("Item")
    if found is None or expired(found):
        return None
    return plain(found)


def batch_get(keys: list[tuple[str, str]], consistent: bool = False
              ) -> dict[tuple[str, str], dict[str, Any]]:
    """Many items by (PK, SK), 100 keys a BatchGetItem call; absent and expired ones
    are left out."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    name = get_settings().table_name
    resource = aws.resource("dynamodb")
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 100):
        request: dict[str, Any] = {name: {
            "Keys": [{"PK": pk, "SK": sk} for pk, sk in unique[start:start + 100]],
            "ConsistentRead": consistent}}
        while request:
            resp = resource.batch_get_item(RequestItems=request)
            for raw in resp.get("Responses", {}).get(name, []):
                if not expired(raw):
                    found[(str(raw["PK"]), str(raw["SK"]))] = plain(raw)
            request = resp.get("UnprocessedKeys") or {}
    return found


def is_condition_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


def put_if(item: dict[str, Any], condition: dict[str, Any] | None = None) -> bool:
    """Writes the item if the condition holds (default: its key is free); False when it
    does not (a duplicate, a creator that raced us)."""
    from botocore.exceptions import ClientError

    try:
        table().put_item(Item=item, **(condition or {
            "ConditionExpression": "attribute_not_exists(PK)"}))
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


def put_new(item: dict[str, Any], conflict_message: str = "It already exists.") -> None:
    """Create an item only if its key is free (two creators may race)."""
    if not put_if(item):
        raise Conflict(conflict_message)


def put(item: dict[str, Any]) -> None:
    table().put_item(Item=item)


def delete(pk: str, sk: str) -> None:
    table().delete_item(Key={"PK": pk, "SK": sk})


def update_request(pk: str, sk: str, changes: dict[str, Any], *,
                   remove: tuple[str, ...] = (), condition: str | None = None,
                   values: dict[str, Any] | None = None,
                   names: dict[str, str] | None = None,
                   append: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """The parameters of an UpdateItem that SETs `changes`, appends to the lists in
    `append`, and REMOVEs `remove` (also the body of a transaction's Update op). The
    condition's own placeholders come in `values` (":v") and `names` ("#v")."""
    attr_names: dict[str, str] = dict(names or {})
    vals: dict[str, Any] = dict(values or {})
    sets = []
    for i, (attr, value) in enumerate(changes.items()):
        attr_names[f"#s{i}"] = attr
        vals[f":s{i}"] = _dynamo_value(value)
        sets.append(f"#s{i} = :s{i}")
    for i, (attr, more) in enumerate((append or {}).items()):
        attr_names[f"#l{i}"] = attr
        vals[f":l{i}"] = _dynamo_value(more)
        vals[":empty"] = []
        sets.append(f"#l{i} = list_append(if_not_exists(#l{i}, :empty), :l{i})")
    expr = ("SET " + ", ".join(sets)) if sets else ""
    if remove:
        for i, attr in enumerate(remove):
            attr_names[f"#r{i}"] = attr
        expr += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    body: dict[str, Any] = {"Key": {"PK": pk, "SK": sk}, "UpdateExpression": expr.strip()}
    if condition:
        body["ConditionExpression"] = condition
    if attr_names:
        body["ExpressionAttributeNames"] = attr_names
    if vals:
        body["ExpressionAttributeValues"] = vals
    return body


def update(pk: str, sk: str, changes: dict[str, Any], *, remove: tuple[str, ...] = (),
           condition: str = "attribute_exists(PK)", values: dict[str, Any] | None = None,
           names: dict[str, str] | None = None, append: dict[str, list[Any]] | None = None,
           returns: bool = True) -> dict[str, Any] | None:
    """SET the given attributes (and REMOVE others) if the condition holds.

    Answers the new item, or None when the condition failed (missing item, lost race);
    with `returns` off, {} on success (for callers that know the new state: no
    read-back).
    """
    from botocore.exceptions import ClientError

    kwargs = update_request(pk, sk, changes, remove=remove, condition=condition,
                            values=values, names=names, append=append)
    kwargs["ReturnValues"] = "ALL_NEW" if returns else "NONE"
    try:
        resp = table().update_item(**kwargs)
    except ClientError as exc:
        if is_condition_failure(exc):
            return None
        raise
    return dict(plain(resp["Attributes"])) if returns else {}


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(plain(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("The cursor is not valid.",
                               details=[{"field": "cursor", "message": "malformed"}]) from exc
    if not isinstance(key, dict) or not all(
        isinstance(k, str) and k in KEY_ATTRS and isinstance(v, str) for k, v in key.items()
    ):
        raise ValidationFailed("The cursor is not valid.",
                               details=[{"field": "cursor", "message": "malformed"}])
    return key


def query_page(pk: str, *, index: str | None = None, cursor: str | None = None,
               limit: int = 20, forward: bool = False, sk_prefix: str | None = None,
               sk_between: tuple[str, str] | None = None,
               item_filter: Any = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a partition, newest first by default, with an opaque cursor.

    `item_filter` (a Python predicate) is applied after reading, and pages are refilled
    until `limit` items pass or the partition ends; but one call reads at most
    FILTER_READ_BUDGET items, so a selective filter over a long partition answers a
    short (even empty) page with a cursor where the reading stopped, as DynamoDB's own
    filtered queries do, instead of reading the whole partition in one request.
    """
    from boto3.dynamodb.conditions import Key

    pk_name, sk_name = ("PK", "SK") if index is None else (f"{index}PK", f"{index}SK")
    cond: Any = Key(pk_name).eq(pk)
    if sk_prefix:
        cond = cond & Key(sk_name).begins_with(sk_prefix)
    elif sk_between:
        cond = cond & Key(sk_name).between(*sk_between)
    start = decode_cursor(cursor)
    if start is not None and start.get(pk_name) != pk:
        # A cursor of another listing (another owner's, another sort) would read there.
        raise ValidationFailed("The cursor belongs to another listing or sort.",
                               details=[{"field": "cursor", "message": "not for this listing"}])
    out: list[dict[str, Any]] = []
    read = 0
    while True:
        # Filtered: read in larger steps (fewer round trips for items that won't pass).
        # A page larger than the step (an export's) reads at least a page at a time.
        step = max(limit - len(out), 1) + 1 if item_filter is None else max(
            FILTER_READ_STEP, limit + 1)
        kwargs: dict[str, Any] = {"KeyConditionExpression": cond, "ScanIndexForward": forward,
                                  "Limit": step}
        if index:
            kwargs["IndexName"] = index
        if start:
            kwargs["ExclusiveStartKey"] = start
        resp = table().query(**kwargs)
        items = resp.get("Items", [])
        for raw in items:
            item = plain(raw)
            if expired(item) or (item_filter is not None and not item_filter(item)):
                continue
            if len(out) == limit:
                # A further item exists: the cursor points at the last one returned.
                return out, encode_cursor(_key_of(out[-1], index))
            out.append(item)
        start = resp.get("LastEvaluatedKey")
        if not start:
            return out, None
        if len(out) == limit:
            return out, encode_cursor(_key_of(out[-1], index))
        read += len(items)
        if read >= max(FILTER_READ_BUDGET, limit):
            return out, encode_cursor(plain(start))


def query_all(pk: str, *, max_items: int | None = None,
              **page: Any) -> Iterator[dict[str, Any]]:
    """Every item of a partition (query_page's arguments), read 100 at a time, up to
    `max_items`. Safe to change the items met on the way (the cursor is a key)."""
    cursor, count = None, 0
    while True:
        items, cursor = query_page(pk, cursor=cursor, limit=100, **page)
        for item in items:
            if max_items is not None and count >= max_items:
                return
            count += 1
            yield item
        if not cursor:
            return


def owned_page(kind: str, owner: str | None, **page: Any) -> tuple[list[dict[str, Any]],
                                                                   str | None]:
    """A listing of one item type (query_page's arguments): everyone's when owner is None
    (GSI2 = <kind>), else one owner's (GSI1 = OWNER#<owner>#<kind>), as the items write
    their index keys."""
    if owner is None:
        return query_page(kind, index="GSI2", **page)
    return query_page(f"OWNER#{owner}#{kind}", index="GSI1", **page)


def _key_of(item: dict[str, Any], index: str | None) -> dict[str, Any]:
    key = {"PK": item["PK"], "SK": item["SK"]}
    if index:
        key[f"{index}PK"] = item[f"{index}PK"]
        key[f"{index}SK"] = item[f"{index}SK"]
    return key


class TransactionConflict(Exception):
    """A condition in a transaction failed; `reasons` lists each item's code, in order."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons


def transact(ops: list[dict[str, Any]]) -> None:
    """TransactWriteItems with plain Python values: each op is {"Put": {"Item": ...}},
    {"Update": {"Key": ..., "UpdateExpression": ...}}, {"Delete": ...} or
    {"ConditionCheck": ...}, as DynamoDB's, minus TableName and type descriptors."""
    from boto3.dynamodb.types import TypeSerializer
    from botocore.exceptions import ClientError

    ser = TypeSerializer()
    name = get_settings().table_name
    items = []
    for op in ops:
        (kind, body), = op.items()
        body = dict(body, TableName=name)
        for field in ("Item", "Key", "ExpressionAttributeValues"):
            if field in body:
                body[field] = {k: ser.serialize(_dynamo_value(v)) for k, v in body[field].items()}
        items.append({kind: body})
    try:
        client().transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            raise TransactionConflict(reasons) from exc
        raise


def _dynamo_value(value: Any) -> Any:
    """Floats are not allowed by boto3's serializer: DynamoDB numbers are Decimals."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo_value(v) for v in value]
    return value
