"""A business resource, declared once: its models, natural key, events, filters, sorts
and search; the machinery in `service.py` and `crud.py` derives the rest, and `repo.py`
keeps its items (keys are spelled there only).

Money: decimal strings on the wire ("19.99"; JSON numbers with at most two decimals are
accepted too), integer cents in the table, so sums and ranges are exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
)
from pydantic.alias_generators import to_camel

from chalicelib.core import scopes
from chalicelib.events import catalog
from chalicelib.http.models import Body, PageQuery, Query

Money = Annotated[Decimal, Field(ge=0, le=Decimal("999999999.99"), decimal_places=2,
                                 description="Decimal string, e.g. \"19.99\".",
                                 examples=["19.99"])]
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _whole_day(end: bool) -> Callable[[Any], Any]:
    """A bare date (`createdAfter=2024-01-01&createdBefore=2024-12-31`, as the brief
    writes them) is a whole UTC day at either end: after from its start, before the
    next day's start."""
    def convert(value: Any) -> Any:
        if isinstance(value, str) and _DAY.match(value):
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return f"{day.isoformat()}T00:00:00Z"
        return value
    return convert


_WHEN = WithJsonSchema({"type": "string", "anyOf": [{"format": "date-time"},
                                                    {"format": "date"}]})
After = Annotated[AwareDatetime, BeforeValidator(_whole_day(False)), _WHEN]
Before = Annotated[AwareDatetime, BeforeValidator(_whole_day(True)), _WHEN]


class Out(BaseModel):
    """Base of the representations answered and sent in events (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)


class FieldsQuery(Query):
    fields: str | None = Field(None, max_length=1000,
                               description="Comma-separated fields to answer, e.g. id,name.")


def cents(value: Decimal | None) -> int | None:
    if value is None:
        return None
    return int((value * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def money_text(value: int) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}{abs(value) // 100}.{abs(value) % 100:02d}"


@dataclass
class Resource:
    """One business resource. `name` is the path and scope prefix (orders), `kind` the
    key prefix (ORDER, used by repo.py), `singular` the event prefix (order)."""

    name: str
    kind: str
    singular: str
    id_prefix: str
    model: type[BaseModel]  # the representation (docs, event schemas)
    create: type[Body]
    update: type[Body] | None
    example: dict[str, Any]
    id_field: str | None = None  # a body field that is the id (inventory: sku)
    id_param: str = "id"
    unique: tuple[str, ...] = ()  # natural keys, unique per namespace (case-insensitive)
    money: tuple[str, ...] = ()  # fields held in cents, answered as decimal strings
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)  # ?status=a,b
    ranges: tuple[str, ...] = ()  # ?<field>Min=&<field>Max=
    sort2: str | None = None  # a second sort field besides createdAt (GSI1)
    search: tuple[str, ...] = ()  # ?q= matches a substring of these fields
    personal: tuple[str, ...] = ()  # personal data: never copied into the audit log
    # The field naming whose personal data an event of this resource carries (a customer
    # id), and what erasure puts in place of a personal field (absent: removed).
    subject: str | None = None
    erased: dict[str, Any] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)  # created/updated/deleted -> type
    flow: dict[str, tuple[str, ...]] | None = None  # status transitions (PATCH /status)
    initial_status: str = ""
    delete_mode: str = "hard"  # hard | custom (the module adds its own DELETE)
    # Hooks: build(ns, record, previous) -> record, raising typed errors; the generic
    # service calls it on create (previous None) and update.
    build: Callable[[str, dict[str, Any], dict[str, Any] | None], dict[str, Any]] | None = None
    # Extra events on a change: (previous or None, new) -> [(type, data)].
    more_events: Callable[[dict[str, Any] | None, dict[str, Any]],
                          list[tuple[str, dict[str, Any]]]] | None = None
    # Further writes of a create, in its transaction (e.g. an order's link to its customer).
    create_ops: Callable[[str, dict[str, Any]], list[dict[str, Any]]] | None = None
    list_query: type[PageQuery] = PageQuery
    get_query: type[Query] = FieldsQuery

    def __post_init__(self) -> None:
        scopes.register_resource(self.name)  # <name>:read and <name>:write exist from here
        DECLARED[self.name] = self  # what derives from every declaration (exports) reads here
        self.list_query = self._list_query()
        self.get_query = create_model(self.singular.title().replace("_", "") + "GetQuery",
                                      __base__=Query, fields=self._fields_param())
        if self.update is not None:
            _no_null_for(self.update, {f.alias or n for n, f
                                       in self.create.model_fields.items() if f.is_required()})
        # A status change writes `<status>At`: the representation (and so the events'
        # schema) must declare it for each status a change may reach.
        reached = sorted({s for targets in (self.flow or {}).values() for s in targets})
        undeclared = [f"{s}At" for s in reached if f"{s}At" not in self.field_names()]
        if undeclared:
            raise ValueError(f"{self.model.__name__} lacks {', '.join(undeclared)}")

    def _fields_param(self) -> Any:
        names = "|".join(self.field_names())
        return (str | None, Field(None, max_length=1000, pattern=rf"^({names})(,({names}))*$",
                                  description="Comma-separated fields to answer, e.g. id,name."))

    # representation
    def present(self, record: dict[str, Any],
                fields: list[str] | None = None) -> dict[str, Any]:
        """The record as answered and sent in events: money as decimal strings, the
        model's field order, only `fields` if given."""
        out = _money_out(record, self.money)
        order = self.field_names()
        out = {**{k: out[k] for k in order if k in out}, **out}
        if fields:
            out = {k: out.get(k) for k in fields}
        return dict(out)

    def field_names(self) -> list[str]:
        return [f.alias or n for n, f in self.model.model_fields.items()]

    def data_subject(self, data: dict[str, Any]) -> str | None:
        """The customer whose personal data this event data carries, if any."""
        if not self.subject or not any(data.get(f) is not None for f in self.personal):
            return None
        return str(data.get(self.subject) or "") or None

    def event_type(self, what: str) -> str | None:
        return self.events.get(what)

    # declaration helpers
    def _list_query(self) -> type[PageQuery]:
        sorts = ("createdAt", self.sort2) if self.sort2 else ("createdAt",)
        fields: dict[str, Any] = {
            "sort": (Literal[sorts], Field("createdAt", description="Sort field.")),
            "order": (Literal["asc", "desc"], Field("desc", description="Sort order.")),
            "fields": self._fields_param(),
            "created_after": (After | None, Field(
                None, description="RFC 3339, or a date (from the start of that UTC day).")),
            "created_before": (Before | None, Field(
                None, description="RFC 3339 (exclusive), or a date (that UTC day included).")),
        }
        if self.search:
            fields["q"] = (str | None, Field(None, min_length=1, max_length=200,
                                             description="Search " + ", ".join(self.search)))
        for name, values in self.enums.items():
            fields[f"f_{name}"] = (str | None, Field(
                None, alias=name, max_length=1000,
                description="Comma-separated, any of: " + ", ".join(values)
                if values else "Comma-separated values."))
        for name in self.ranges:
            # Bounded like the values themselves (an unbounded decimal would overflow
            # the conversion to cents).
            kind: Any = Decimal if name in self.money else int
            top: Any = Decimal("999999999.99") if name in self.money else 10**12
            for end in ("Min", "Max"):
                fields[f"r_{name}_{end.lower()}"] = (kind | None, Field(
                    None, alias=f"{name}{end}", ge=0, le=top,
                    description=f"{name} {end.lower()}imum."))
        title = self.singular.title().replace("_", "") + "ListQuery"
        return create_model(title, __base__=PageQuery, **fields)


DECLARED: dict[str, Resource] = {}  # name -> declaration, in declaration order


def _no_null_for(model: Any, names: set[str]) -> None:
    """An update may leave out a field the create requires, but not null it: say so in
    the JSON Schema too (the service refuses such nulls), so clients know."""
    before = model.model_config.get("json_schema_extra")

    def strip_null(schema: dict[str, Any]) -> None:
        if isinstance(before, dict):  # e.g. ChangeBody's minProperties
            schema.update(before)
        for name in names:
            prop = schema.get("properties", {}).get(name)
            if prop and "anyOf" in prop:
                kept = [s for s in prop["anyOf"] if s.get("type") != "null"]
                prop.pop("anyOf")
                prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
                prop.pop("default", None)

    model.model_config["json_schema_extra"] = strip_null


def _money_out(value: Any, money: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: (money_text(v) if k in money and isinstance(v, int)
                    else _money_out(v, money)) for k, v in value.items()}
    if isinstance(value, list):
        return [_money_out(v, money) for v in value]
    return value


class Deleted(Out):
    id: str
    deleted_at: str


def register_events(res: Resource, descriptions: dict[str, str],
                    special: dict[str, tuple[str, type[BaseModel], dict[str, Any]]]
                    | None = None) -> None:
    """The resource's events in the catalog: created/updated share the representation;
    deleted answers {id, deletedAt}; `special` adds the others (description, model, example).
    Each is read with the resource's read scope (`<name>:read`), as its routes are."""
    special = special or {}
    scope = f"{res.name}:read"
    done: set[str] = set(special)
    for what, name in res.events.items():
        if name in done:
            continue
        done.add(name)
        if what == "deleted":
            catalog.register(name, descriptions.get(what, f"A {res.singular} was deleted."),
                             Deleted, {"id": res.example["id"],
                                       "deletedAt": "2026-01-02T00:00:00.000Z"},
                             read_scope=scope)
        else:
            catalog.register(name, descriptions.get(what, f"A {res.singular} was {what}."),
                             res.model, res.example, read_scope=scope)
    for name, (description, model, example) in special.items():
        catalog.register(name, description, model, example, read_scope=scope)
