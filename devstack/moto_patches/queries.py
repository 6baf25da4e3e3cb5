"""DynamoDB queries read their partition, not the whole table."""

from __future__ import annotations

import threading
from typing import Any

from devstack.moto_patches.registry import replace

_scoped = threading.local()  # this thread's query: the candidates all_items() answers


def apply() -> None:
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
        replace(owner, name, patched)


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
