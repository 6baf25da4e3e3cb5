"""moto's hot paths, made to cost what they touch. Under load the local stack spent most
of its CPU in moto (profile in README): each of these keeps what moto answers and
changes only what it costs. tests/component/test_emulator.py checks each against moto's
own behaviour. Applied once per process (`apply`), by the emulator and the in-process
dispatch; the pinned moto version (requirements-dev.txt) is the one they patch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_applied = False
_apply_lock = threading.Lock()
_replaced: list[tuple[Any, str, Any, Any]] = []  # (owner, name, moto's, ours)


def apply() -> None:
    global _applied
    with _apply_lock:
        if _applied:
            return
        _item_level_transactions()
        _partition_queries()
        _json_answers()
        _parsed_once()
        _trees_copied_plainly()
        _retention_read_directly()
        _cached_method_names()
        _applied = True


_INHERITED = object()  # moto's was the base class's: restoring removes ours


def _replace(owner: Any, name: str, ours: Any) -> None:
    _replaced.append((owner, name, vars(owner).get(name, _INHERITED), ours))
    setattr(owner, name, ours)


@contextmanager
def moto_as_shipped() -> Iterator[None]:
    """moto without these patches for the duration (tests compare the two; nothing
    else may run meanwhile)."""
    for owner, name, original, _ours in _replaced:
        if original is _INHERITED:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    try:
        yield
    finally:
        for owner, name, _original, ours in _replaced:
            setattr(owner, name, ours)


def _item_level_transactions() -> None:
    """moto's TransactWriteItems deep-copies every table it touches before it starts (its
    rollback), so each transaction costs as much as the whole table: the local stack's
    writes, all transactional (the outbox), slowed to seconds after a few thousand
    requests. This one checks every condition against the state before the transaction
    (as DynamoDB does), and only then writes, keeping just the touched items for the
    rollback of an invalid update. DynamoDB calls are serialized (emulator.py), so
    nothing interleaves."""
    import copy

    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        ops: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = []
        seen: set[tuple[str, str]] = set()
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            ident = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if ident in seen:
                raise MultipleTransactionsException()
            seen.add(ident)
            ops.append((op_type, op, table, key))
        errors: list[tuple[str | None, str | None, Any]] = []
        for op_type, op, _table, key in ops:
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                errors.append(("ValidationException", "Unsupported operation", None))
                continue
            current = self.get_item(op["TableName"], key)
            cond = op.get("ConditionExpression")
            if cond is not None and not get_filter_expression(
                    cond, op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues")).expr(current):
                old = (current.to_json()["Attributes"] if current and op.get(
                    "ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None)
                errors.append(("ConditionalCheckFailed", "The conditional request failed",
                               old))
            else:
                errors.append((None, None, None))
        if any(code for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        before = [(table, key, copy.deepcopy(self.get_item(op["TableName"], key)))
                  for op_type, op, table, key in ops if op_type != "ConditionCheck"]
        try:
            for op_type, op, _table, key in ops:
                names, values = op.get("ExpressionAttributeNames"), op.get(
                    "ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(op["TableName"], op["Item"],
                                  expression_attribute_names=names,
                                  expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(op["TableName"], key)
                elif op_type == "Update":
                    self.update_item(op["TableName"], key,
                                     update_expression=op["UpdateExpression"],
                                     expression_attribute_names=names,
                                     expression_attribute_values=values)
        except Exception:  # e.g. an update invalid for the item: undo, then pass it on
            for table, key, item in before:  # put back what was there, or nothing
                if item is not None:
                    table.put_item(item.to_json()["Attributes"])
                else:
                    from moto.dynamodb.models.dynamo_type import DynamoType

                    rng = (DynamoType(key[table.range_key_attr])
                           if table.range_key_attr is not None else None)
                    table.delete_item(DynamoType(key[table.hash_key_attr]), rng)
            raise

    _replace(DynamoDBBackend, "transact_write_items", transact_write_items)


# -- queries read their partition, not the table ---------------------------------------

_scoped = threading.local()  # this thread's query: the candidates all_items() answers


def _partition_queries() -> None:
    """moto's Table.query starts from all_items(): every item of the table, sorted with
    Python comparisons, for every query (of the table or of an index). The local stack's
    table holds every access log, audit entry and outbox event, so listing 20 customers
    cost more with each request served. Here a query starts from its partition: the
    table's own for a table or local index query; for a global index, a per-attribute
    map of the items holding each value, built on the index's first query and kept up
    to date as items are put and updated (an entry gone stale, the item deleted or
    changed, is dropped when met). moto's own query code then runs on those candidates
    unchanged (conditions, order, paging, filters, projections)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    real_query, real_all_items = Table.query, Table.all_items
    real_put, real_update = Table.put_item, DynamoDBBackend.update_item

    def all_items(self: Any) -> Any:
        scoped = getattr(_scoped, "candidates", None)
        if scoped is not None and scoped[0] is self:
            return scoped[1]
        return real_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name") if len(args) < 7 else args[6]
        conditions = kwargs.get("hash_key_conditions") or []
        candidates = _candidates(self, hash_key, index_name, conditions)
        if candidates is None:
            return real_query(self, hash_key, *args, **kwargs)
        outer = getattr(_scoped, "candidates", None)
        _scoped.candidates = (self, candidates)
        try:
            return real_query(self, hash_key, *args, **kwargs)
        finally:
            _scoped.candidates = outer

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = real_put(self, *args, **kwargs)
        _note(self, item)
        return item

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        item = real_update(self, table_name, *args, **kwargs)
        _note(self.get_table(table_name), item)
        return item

    for owner, name, patched in ((Table, "all_items", all_items), (Table, "query", query),
                                 (Table, "put_item", put_item),
                                 (DynamoDBBackend, "update_item", update_item)):
        _replace(owner, name, patched)


def _stored(table: Any, item: Any) -> Any:
    """The item the table holds under `item`'s key (the same object if current)."""
    part = table.items.get(item.hash_key)
    if table.range_key_attr is None or part is None:
        return part
    return part.get(item.range_key)


def _value_key(value: Any) -> tuple[str, Any] | None:
    """A key attribute's value (S, N or B) as a dict key."""
    if value is None or not isinstance(value.value, str | bytes):
        return None
    return value.type, value.value


def _index_of(table: Any, attr: str) -> dict[tuple[str, Any], dict[int, Any]]:
    indexes: dict[str, dict[tuple[str, Any], dict[int, Any]]] = table.__dict__.setdefault(
        "_gatehouse_by_attr", {})
    buckets = indexes.get(attr)
    if buckets is None:
        buckets = indexes[attr] = {}
        for part in list(table.items.values()):
            for item in list(part.values()) if table.range_key_attr else [part]:
                key = _value_key(item.attrs.get(attr))
                if key is not None:
                    buckets.setdefault(key, {})[id(item)] = item
    return buckets


def _note(table: Any, item: Any) -> None:
    """An item just put or updated joins the maps of the attributes it holds."""
    for attr, buckets in table.__dict__.get("_gatehouse_by_attr", {}).items():
        key = _value_key(item.attrs.get(attr))
        if key is not None:
            buckets.setdefault(key, {})[id(item)] = item


def _candidates(table: Any, hash_key: Any, index_name: str | None,
                conditions: list[tuple[str, Any]]) -> list[Any] | None:
    """Every item the query may answer (a superset moto's code narrows), or None to let
    moto read the whole table."""
    if not index_name or (conditions and conditions[0][0] == table.hash_key_attr):
        value = hash_key if not index_name else conditions[0][1]
        part = table.items.get(value) if value is not None else None
        if part is None:
            return []
        return list(part.values()) if table.range_key_attr else [part]
    if not conditions:
        return None
    attr, value = conditions[0]
    key = _value_key(value)
    if key is None:
        return None
    bucket = _index_of(table, attr).get(key, {})
    found = []
    for ident, item in list(bucket.items()):
        if _stored(table, item) is item and _value_key(item.attrs.get(attr)) == key:
            found.append(item)
        else:
            bucket.pop(ident, None)
    return found


# -- DynamoDB's data-plane answers as JSON ------------------------------------------------

# Operations whose answer moto builds as the wire's JSON already (attribute values in
# DynamoDB's typed form): moto's generic serializer walks the output model member by
# member (for a page of 100 items, some 50,000 lookups) to write the same thing.
DATA_PLANE = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                        "BatchGetItem", "BatchWriteItem", "TransactGetItems",
                        "TransactWriteItems"})


def _json_default(value: Any) -> Any:
    import base64
    from decimal import Decimal

    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


_kept = threading.local()


@contextmanager
def answers_kept() -> Iterator[list[dict[str, Any]]]:
    """Within, on this thread, a DynamoDB data-plane answer is not written as JSON at
    all: moto's result is kept in the list yielded, already as botocore would parse it
    (binary values as bytes, every container built for this answer), and the body left
    empty. For a caller in this process that would only parse the JSON back."""
    kept: list[dict[str, Any]] = []
    _kept.results = kept
    try:
        yield kept
    finally:
        _kept.results = None


def _json_answers() -> None:
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    real = DynamoHandler.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if not isinstance(result, dict) or self._get_action() not in DATA_PLANE:
            return real(self, action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        kept = getattr(_kept, "results", None)
        # Only a DynamoResult is built afresh (dynamo_to_dict) and safe to hand over.
        if kept is not None and isinstance(action_result, DynamoResult):
            kept.append(result)
            return 200, headers, ""
        return 200, headers, json.dumps(result, default=_json_default)

    _replace(DynamoHandler, "serialized", serialized)


# -- expressions parsed once ---------------------------------------------------------------

def _parsed_once() -> None:
    """moto parses an UpdateItem's expressions twice per call (to check the names and
    values used, then to apply them), and the same few expressions on every call. An
    update expression's tree depends on its text alone and nothing changes it (moto's
    validator works on a copy): one tree per text. A condition's depends on its names
    and values too: one per (text, names, values), so at least the second parse of a
    call is saved; the names and values it found are kept with it."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import expressions

    parser: Any = getattr(expressions, "UpdateExpressionParser")  # noqa: B009 - untyped
    real_make = parser.make.__func__
    trees: dict[str, Any] = {}

    def make(cls: Any, expression_str: str) -> Any:
        tree = trees.get(expression_str)
        if tree is None:
            if len(trees) >= _MEMO_SIZE:
                trees.clear()
            tree = trees[expression_str] = real_make(cls, expression_str)
        return tree

    real_parse = ConditionExpressionParser.parse
    ops: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}

    def parse(self: Any) -> Any:
        try:
            key = (self.condition_expression or "",
                   json.dumps(self.expression_attribute_names, sort_keys=True),
                   json.dumps(self.expression_attribute_values, sort_keys=True))
        except TypeError:  # a value JSON cannot hold (bytes): parse as moto does
            return real_parse(self)
        found = ops.get(key)
        if found is None:
            op = real_parse(self)  # an invalid expression raises: nothing is kept
            if len(ops) >= _MEMO_SIZE:
                ops.clear()
            ops[key] = (op, list(self.expr_attr_names_found),
                        list(self.expr_attr_values_found))
            return op
        self.expr_attr_names_found.extend(found[1])
        self.expr_attr_values_found.extend(found[2])
        return found[0]

    _replace(parser, "make", classmethod(make))
    _replace(ConditionExpressionParser, "parse", parse)


_MEMO_SIZE = 512


# -- an update expression's tree copied as a tree ----------------------------------------

def _trees_copied_plainly() -> None:
    """moto's update validator starts from copy.deepcopy of the expression's tree: the
    generic, pickle-protocol copy of every node (a fifth of the stack's CPU under load).
    A tree node holds only its type name, its children (nodes, or strings and numbers)
    and its parent: copying those is the same tree."""
    from moto.dynamodb.parsing import ast_nodes, validators

    node_class: Any = getattr(ast_nodes, "Node")  # noqa: B009 - untyped module

    def clone(node: Any, parent: Any) -> Any:
        copied = object.__new__(type(node))
        copied.__dict__.update(node.__dict__)
        copied.parent = parent
        if node.children is not None:
            copied.children = [clone(child, copied) if isinstance(child, node_class)
                               else child for child in node.children]
        return copied

    def __init__(self: Any, expression: Any, expression_attribute_names: Any,
                 expression_attribute_values: Any, item: Any, table: Any) -> None:
        # moto's Validator.__init__, with the copy above instead of copy.deepcopy
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self.processors = self.get_ast_processors()
        self.node_to_validate = clone(expression, expression.parent)

    _replace(validators.Validator, "__init__", __init__)


# -- SQS: a queue's retention period read, not all its attributes computed ---------------

def _retention_read_directly() -> None:
    """Receiving a message computed every attribute of its queue (each one walking the
    queue's messages) to read one of them."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str,
                                                   message: Any) -> bool:
        retention = self.get_queue(queue_name).message_retention_period
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    _replace(SQSBackend, "is_message_valid_based_on_retention_period",
             is_message_valid_based_on_retention_period)


# -- a class's method names, listed once ----------------------------------------------------

def _cached_method_names() -> None:
    """moto lists a response class's methods (inspect.getmembers) on every call to
    find the action's; a class's methods do not change."""
    from moto.core import responses

    real: Callable[[object], list[str]] = responses.method_names_from_class
    cache: dict[object, list[str]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        names = cache.get(clazz)
        if names is None:
            names = cache[clazz] = real(clazz)
        return names

    _replace(responses, "method_names_from_class", method_names_from_class)
