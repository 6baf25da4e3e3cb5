"""What an export reads: a declared resource's records, page by page, as the rows and the
data dictionary the writers take.

Every resource the declarations know is exportable (resources/declaration.DECLARED);
`fields` and `filters` are checked against its declaration: the fields of its
representation, and the filters its list endpoint takes (`status`, `category`...,
`<field>Min`/`<field>Max`, `createdAfter`/`createdBefore`, `q`). Pages are Queries on the
namespace's listing index, oldest first (resources/repo.page), never a Scan held in
memory; the cursor of each page is a key, so an export resumes anywhere.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from chalicelib.core.errors import Unprocessable, ValidationFailed
from chalicelib.exchange.entities import field_type
from chalicelib.resources import repo, service
from chalicelib.resources.declaration import Resource

if TYPE_CHECKING:  # the writers are imported by the worker only, not at every cold start
    from chalicelib.exchange.formats import Field

PAGE_ROWS = 2500  # records per page: about what DynamoDB answers in one 1 MB Query
# Parameters of the list endpoint that are not filters.
_NOT_FILTERS = {"perPage", "cursor", "sort", "order", "fields"}



def field_names(res: Resource, wanted: list[str] | None) -> list[str]:
    """The fields to export, in the order asked (default: all, in the declaration's);
    an unknown one answers 422 naming it."""
    known = res.field_names()
    if not wanted:
        return known
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise Unprocessable(f"Unknown field(s) for {res.name}: {', '.join(unknown)}.",
                            details=[{"field": "fields", "message": f"unknown field {f!r}"}
                                     for f in unknown])
    if len(set(wanted)) != len(wanted):
        raise Unprocessable("A field is named twice.", details=[
            {"field": "fields", "message": "each field at most once"}])
    return list(wanted)


def filter_names(res: Resource) -> list[str]:
    return [f.alias or n for n, f in res.list_query.model_fields.items()
            if (f.alias or n) not in _NOT_FILTERS]


def filter_query(res: Resource, filters: dict[str, Any] | None) -> Any:
    """The filters as the resource's list query; an unknown filter or a bad value answers
    422 naming it. A list of values stands for `a,b`."""
    from pydantic import ValidationError

    filters = filters or {}
    allowed = filter_names(res)
    unknown = [k for k in filters if k not in allowed]
    if unknown:
        raise Unprocessable(f"Unknown filter(s) for {res.name}: {', '.join(unknown)}.",
                            details=[{"field": f"filters.{k}",
                                      "message": f"not a filter; one of {', '.join(allowed)}"}
                                     for k in unknown])
    given = {k: ",".join(map(str, v)) if isinstance(v, list) else v
             for k, v in filters.items()}
    try:
        query = res.list_query.model_validate({**given, "sort": "createdAt", "order": "asc"})
    except ValidationError as exc:
        raise Unprocessable("Some filters are not valid.", details=[
            {"field": "filters." + ".".join(str(p) for p in e.get("loc", ())),
             "message": e.get("msg", "invalid")} for e in exc.errors()]) from exc
    try:
        service.selection(res, query)  # contradictions (min > max...) answer here
    except ValidationFailed as exc:
        raise Unprocessable("Some filters are not valid.", details=[
            {**d, "field": f"filters.{d.get('field', '')}"} for d in exc.details]) from exc
    return query


def dictionary(res: Resource, names: list[str]) -> list[Field]:
    """The data dictionary of these fields: type from the representation's JSON Schema
    (money as numbers, <status>At and other timestamps as datetimes), description and an
    example from the declaration."""
    from chalicelib.exchange.formats import Field

    schema = res.model.model_json_schema(by_alias=True)
    props = schema.get("properties", {})
    out = []
    for name in names:
        prop = props.get(name, {})
        kind = field_type(prop)
        description = str(prop.get("description") or "")
        if name in res.money:
            kind, description = "number", description or "Money: a decimal with two places."
        elif kind == "string" and name.endswith("At"):
            kind, description = "datetime", description or "RFC 3339 timestamp (UTC)."
        out.append(Field(name, kind, description, _example(res, name)))  # type: ignore[arg-type]
    return out


def _example(res: Resource, name: str) -> Any:
    value = res.example.get(name)
    return Decimal(value) if name in res.money and isinstance(value, str) else value


class Source:
    """The records of one resource in one namespace that the filters keep, as rows of
    the chosen fields (money as Decimals: typed cells, JSON numbers)."""

    def __init__(self, res: Resource, ns: str, names: list[str],
                 filters: dict[str, Any] | None) -> None:
        self.res, self.ns, self.names = res, ns, names
        self.keep, self.between = service.selection(res, filter_query(res, filters))
        self.money = [n for n in names if n in res.money]
        # Objects and arrays may hold money too (an order's lines): presented as the API
        # presents them. The other fields are taken as stored, which costs half as much.
        types = {f.name: f.type for f in dictionary(res, names)}
        self.nested = [n for n in names if types[n] in ("object", "array")]

    def page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page from `cursor` (None: the start) and the cursor after it (None: the
        end)."""
        records, after = repo.page(self.res, self.ns, by_sort2=False, cursor=cursor,
                                   limit=PAGE_ROWS, forward=True,
                                   created_between=self.between, keep=self.keep)
        return self.rows(records), after

    def rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records as read, as the rows the writer takes."""
        names, money, nested, present = self.names, self.money, self.nested, self.res.present
        rows = []
        for record in records:
            row = {name: record.get(name) for name in names}
            for name in money:  # cents -> an exact decimal with two places
                value = row[name]
                if isinstance(value, int) and not isinstance(value, bool):
                    row[name] = Decimal(value).scaleb(-2)
            for name in nested:
                if row[name] is not None:
                    row[name] = present({name: row[name]})[name]
            rows.append(row)
        return rows
