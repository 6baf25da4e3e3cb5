"""DynamoDB queries read their partition, not the whole table; a page of a global
index reads that page, not its whole partition."""

from __future__ import annotations

import bisect
import inspect
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
    unchanged (conditions, order, paging, filters, projections).

    A global index's partition can still be large (an export pages through 100,000
    products): moto sorts all of it and walks past every earlier page for each page, so
    paging through it cost time quadratic in its size and memory linear in it. Such a
    query is answered from a window of the partition kept sorted (_Window)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    real_query, real_all_items = Table.query, Table.all_items
    signature = inspect.signature(real_query)
    real_put, real_update = Table.put_item, DynamoDBBackend.update_item

    def all_items(self: Any) -> Any:
        scoped = getattr(_scoped, "candidates", None)
        if scoped is not None and scoped[0] is self:
            return scoped[1]
        return real_all_items(self)

    def scoped(self: Any, candidates: list[Any], *args: Any, **kwargs: Any) -> Any:
        outer = getattr(_scoped, "candidates", None)
        _scoped.candidates = (self, candidates)
        try:
            return real_query(self, *args, **kwargs)
        finally:
            _scoped.candidates = outer

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        call = signature.bind(self, hash_key, *args, **kwargs).arguments
        index_name = call.get("index_name")
        conditions = call.get("hash_key_conditions") or []
        window = _Window.of(self, index_name, conditions, call)
        if window is not None:
            while True:  # moto answers from the window, unless it ran out of it
                answer = scoped(self, window.items(), hash_key, *args, **kwargs)
                if answer[2] is not None or not window.widen():
                    return answer
        candidates = _candidates(self, hash_key, index_name, conditions)
        if candidates is None:
            return real_query(self, hash_key, *args, **kwargs)
        return scoped(self, candidates, hash_key, *args, **kwargs)

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = real_put(self, *args, **kwargs)
        _note(self, item)
        return item

    def update_item(self: Any, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto updates the stored item in place: whatever happens, the partitions it
        # was and is in are re-read (an update may fail half done).
        table = self.get_table(table_name)
        before = _current(table, key)
        was = _keys_held(table, before) if before is not None else []
        item = None
        try:
            item = real_update(self, table_name, key, *args, **kwargs)
            _note(table, item)
            return item
        finally:
            _forget(table, was)
            after = item if item is not None else _current(table, key)
            if after is not None:
                _forget(table, _keys_held(table, after))

    def untracked(cls: Any, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    # moto keeps every model instance it ever made in a class-wide list (for its
    # /moto-api/data.json and its reset), and a DynamoDB Item is made for every item
    # stored and copied again for every item answered: memory grew with every item
    # read, by about 2 KB each (an export of 100,000 rows: some 200 MB). Items, which
    # the tables hold themselves, are no longer listed there.
    replace(Item, "__new__", staticmethod(untracked))
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
            _forget(table, [(attr, key)])


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


def _current(table: Any, key: dict[str, Any]) -> Any:
    """The item stored under an UpdateItem's key, or None."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        hash_value = DynamoType(key[table.hash_key_attr])
        range_attr = table.range_key_attr
        range_value = DynamoType(key[range_attr]) if range_attr and range_attr in key else None
        return table.get_item(hash_value, range_value)
    except Exception:  # noqa: BLE001 - a malformed key: moto's own update answers it
        return None


def _keys_held(table: Any, item: Any) -> list[tuple[str, tuple[str, Any]]]:
    """(attribute, value) of each mapped attribute the item holds."""
    held = []
    for attr in table.__dict__.get("_gatehouse_by_attr", {}):
        key = _value_key(item.attrs.get(attr))
        if key is not None:
            held.append((attr, key))
    return held


def _forget(table: Any, held: list[tuple[str, tuple[str, Any]]]) -> None:
    """These partitions changed: their sorted copies are built again when next read."""
    orders = table.__dict__.get("_gatehouse_sorted")
    if orders:
        for attr_key in held:
            orders.pop(attr_key, None)


class _Window:
    """A global index query's candidates as a slice of its partition kept sorted in
    moto's order (built once per change to the partition): from the exclusive start key
    (found by bisection), as many items as the page can hold; widened (x4) only if moto
    reached the slice's end without ending the page. moto's own query code then answers
    from the slice as it would from the whole partition: it walks its candidates in
    order and stops at the page's end (its LastEvaluatedKey), so past that point the
    candidates never counted. Costs what the page reads, not the partition's size."""

    def __init__(self, table: Any, order: tuple[list[Any], list[Any]], attrs: list[str],
                 start: tuple[Any, ...] | None, forward: bool, limit: int | None,
                 bounds: tuple[tuple[Any, Any] | None, tuple[Any, Any] | None]) -> None:
        self.table, (self.keys, self.all) = table, order
        self.attrs, self.forward = attrs, forward
        # moto skips what precedes the start key, and walks past what falls short of the
        # sort key's condition or beyond it: the window lies between, with a spare item
        # at each end.
        keys, prefix, (low, high) = self.keys, (lambda key: key[:2]), bounds
        if forward:
            self.lo = bisect.bisect_left(keys, start) if start else 0
            if low is not None:
                self.lo = max(self.lo, bisect.bisect_left(keys, low, key=prefix))
            self.lo = max(0, self.lo - 1)
            self.end = (len(keys) if high is None
                        else min(len(keys), bisect.bisect_right(keys, high, key=prefix) + 1))
        else:
            self.hi = bisect.bisect_right(keys, start) if start else len(keys)
            if high is not None:
                self.hi = min(self.hi, bisect.bisect_right(keys, high, key=prefix))
            self.hi = min(len(keys), self.hi + 1)
            self.end = (0 if low is None
                        else max(0, bisect.bisect_left(keys, low, key=prefix) - 1))
        # the spare item, the start item itself, the page, one more to say it goes on
        self.size = (limit + 3) if limit else self._fits_a_page()

    @classmethod
    def of(cls, table: Any, index_name: str | None, conditions: list[tuple[str, Any]],
           call: dict[str, Any]) -> _Window | None:
        """The window for this query, or None (other shapes: moto's own path)."""
        if (not index_name or len(conditions) != 1 or call.get("consistent_read")
                or len(call.get("range_key_conditions") or []) > 1):
            return None
        index = next((i for i in table.global_indexes or [] if i.name == index_name), None)
        if index is None:
            return None
        hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
        ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
        attr, value = conditions[0]
        key = _value_key(value)
        if hashes != [attr] or key is None:
            return None
        # moto's sort order for this index (Table.query, then sorted_items)
        range_attrs: list[str | None] = (
            [*ranges, table.range_key_attr] if ranges
            else [table.range_key_attr or table.hash_key_attr, table.range_key_attr])
        attrs = table._generate_attr_to_sort_by([attr, table.hash_key_attr], range_attrs)
        esk = call.get("exclusive_start_key")
        start = None
        if esk:
            if any(a not in esk for a in attrs):
                return None
            from moto.dynamodb.models.dynamo_type import DynamoType

            try:
                start = tuple(DynamoType(esk[a]).cast_value for a in attrs)
            except Exception:  # noqa: BLE001 - malformed: moto's own path answers it
                return None
        forward = call.get("scan_index_forward") is not False
        hashed = value.cast_value
        bounds = tuple(None if b is None else (hashed, b) for b in _bounds(call, attrs))
        try:
            order = _sorted(table, attr, key, index_name, attrs)
            return cls(table, order, attrs, start, forward, call.get("limit"),
                       bounds)  # type: ignore[arg-type]
        except TypeError:  # values of several types under one key: moto's own path
            return None

    def _bounds(self) -> tuple[int, int]:
        if self.forward:
            return self.lo, max(self.lo, min(self.end, self.lo + self.size))
        return min(self.hi, max(self.end, self.hi - self.size)), self.hi

    def items(self) -> list[Any]:
        """The slice's items still stored as they were when sorted."""
        lo, hi = self._bounds()
        attrs, keys, table = self.attrs, self.keys, self.table
        return [item for item, key in zip(self.all[lo:hi], keys[lo:hi], strict=True)
                if _stored(table, item) is item
                and tuple(item.attrs[a].cast_value for a in attrs) == key]

    def widen(self) -> bool:
        """A wider slice, if the partition goes on past this one."""
        lo, hi = self._bounds()
        if (hi >= self.end) if self.forward else (lo <= self.end):
            return False
        self.size *= 4
        return True

    def _fits_a_page(self) -> int:
        """Items that one unlimited page (1 MB) may hold, from the sizes of the first
        few: generous, a wider slice costs little beyond the page moto copies."""
        from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

        lo, hi = (self.lo, self.lo + 16) if self.forward else (max(0, self.hi - 16), self.hi)
        sample = [item.size() for item in self.all[lo:hi]]
        return RESULT_SIZE_LIMIT // max(1, min(sample, default=1)) + 2


_LOWER = {"BETWEEN": 0, ">": 0, ">=": 0, "GT": 0, "GE": 0, "=": 0, "EQ": 0,
          "BEGINS_WITH": 0}  # which value of a sort key condition is its lowest
_UPPER = {"BETWEEN": 1, "<": 0, "<=": 0, "LT": 0, "LE": 0, "=": 0, "EQ": 0}


def _bounds(call: dict[str, Any], attrs: list[str]) -> tuple[Any, Any]:
    """The lowest and highest index sort key values that may meet the query's sort key
    condition (None: unbounded)."""
    comparison, values = call.get("range_comparison"), call.get("range_objs") or []
    conditions = call.get("range_key_conditions") or []
    if not comparison or len(conditions) != 1 or conditions[0][0] != attrs[1]:
        return None, None
    found = []
    for which in (_LOWER, _UPPER):
        at = which.get(str(comparison).upper())
        found.append(values[at].cast_value if at is not None and at < len(values) else None)
    return found[0], found[1]


def _sorted(table: Any, attr: str, key: tuple[str, Any], index_name: str,
            attrs: list[str]) -> tuple[list[Any], list[Any]]:
    """The partition's stored items in moto's order for this index (each item's sort
    values, and the items), built when first read after a change."""
    orders = table.__dict__.setdefault("_gatehouse_sorted", {})
    by_index = orders.setdefault((attr, key), {})
    order: tuple[list[Any], list[Any]] | None = by_index.get(index_name)
    if order is None:
        entries = []
        for item in _candidates(table, None, index_name, [(attr, _typed(key))]) or []:
            values = [item.attrs.get(a) for a in attrs]
            if all(v is not None for v in values):
                entries.append((tuple(v.cast_value for v in values), item))
        entries.sort(key=lambda entry: entry[0])
        order = by_index[index_name] = ([k for k, _ in entries], [i for _, i in entries])
    return order


def _typed(key: tuple[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType({key[0]: key[1]})
