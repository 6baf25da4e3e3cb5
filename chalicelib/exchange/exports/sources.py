"""What an export reads. A Source pages through rows of the chosen fields and describes
them (the data dictionary that travels with the file); an Exportable is what an export's
`entity` names: it turns a request into the job's params (fields and filters checked,
the caller's rights too), says what the job must keep holding, and opens its Source.

  ResourceSource / ResourceExportable   every declared business resource (here)
  platform.py                           webhook deliveries, access logs, audit logs
  subject.py                            everything held about one customer

A resource's `fields` and `filters` are checked against its declaration: the fields of
its representation, and the filters its list endpoint takes (`status`, `category`...,
`<field>Min`/`<field>Max`, `createdAfter`/`createdBefore`, `q`). Pages are Queries on the
namespace's listing index, oldest first (resources/repo.page), never a Scan held in
memory; the cursor of each page is a key, so an export resumes anywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from chalicelib.core.errors import Unprocessable, ValidationFailed
from chalicelib.core.principal import Principal
from chalicelib.exchange import entities
from chalicelib.exchange.entities import field_type
from chalicelib.jobs.model import Job
from chalicelib.resources import repo, service
from chalicelib.resources.declaration import DECLARED, Resource

if TYPE_CHECKING:  # the writers are imported by the worker only, not at every cold start
    from chalicelib.exchange.exports.models import CreateExport
    from chalicelib.exchange.formats import Field, Writer

PAGE_ROWS = 2500  # records per page: about what DynamoDB answers in one 1 MB Query
# Parameters of the list endpoint that are not filters.
_NOT_FILTERS = {"perPage", "cursor", "sort", "order", "fields"}


# -- what every export reads through ----------------------------------------------------

class Source(ABC):
    """Rows of the chosen fields, a page at a time, and their data dictionary."""

    entity: str
    fields: list[Field]

    @abstractmethod
    def page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page from `cursor` (None: the start) and the cursor after it (None: the
        end). A page may be empty while the cursor is not (a filtered read)."""

    def open_writer(self, fmt: str, options: Mapping[str, Any]) -> Writer:
        from chalicelib.exchange.formats import open_writer

        extra = {"bom": bool(options.get("bom"))} if fmt == "csv" else {}
        return open_writer(fmt, self.fields, entity=self.entity, **extra)

    def resume_writer(self, state: Mapping[str, Any]) -> Writer:
        from chalicelib.exchange.formats import resume_writer

        return resume_writer(state, self.fields)

    def about(self) -> dict[str, Any]:
        """What the data dictionary says besides the fields (the sidecar's extra keys)."""
        return {}


class Exportable(ABC):
    """What an export's `entity` names."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    listed: ClassVar[bool] = True  # offered by POST /exports (the subject export is not)

    @abstractmethod
    def params(self, actor: Principal, body: CreateExport) -> dict[str, Any]:
        """The job's params of an export the actor may run: 403 without the rights, 422
        naming an unknown field or filter."""

    @abstractmethod
    def required_scopes(self, job: Job) -> list[str]:
        """What the job's principal must keep holding (the engine checks each run)."""

    @abstractmethod
    def require(self, actor: Principal, job: Job) -> None:
        """403 unless the actor may still have the job's file (a download)."""

    @abstractmethod
    def open(self, job: Job) -> Source:
        """The Source a run of the job reads (JobFailed if it no longer can)."""


EXPORTABLE: dict[str, Exportable] = {}  # the platform's data and the subject export, by name


def register(exportable: Exportable) -> Exportable:
    for name in (exportable.name, *exportable.aliases):
        EXPORTABLE[name] = exportable
    return exportable


def find(name: str) -> Exportable:
    """What `entity` names (a platform alias answers its canonical exportable); 422
    naming the known ones otherwise."""
    if name in EXPORTABLE:
        return EXPORTABLE[name]
    if name in DECLARED:
        return ResourceExportable(DECLARED[name])
    known = [*DECLARED, *dict.fromkeys(e.name for e in EXPORTABLE.values() if e.listed)]
    raise Unprocessable(f"Unknown entity {name!r}.", details=[
        {"field": "entity", "message": f"one of {', '.join(known)}"}])


def check_fields(entity: str, known: list[str], wanted: list[str] | None) -> list[str]:
    """The fields to export, in the order asked (default: all, in the declaration's);
    an unknown one answers 422 naming it."""
    if not wanted:
        return list(known)
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise Unprocessable(f"Unknown field(s) for {entity}: {', '.join(unknown)}.",
                            details=[{"field": "fields", "message": f"unknown field {f!r}"}
                                     for f in unknown])
    if len(set(wanted)) != len(wanted):
        raise Unprocessable("A field is named twice.", details=[
            {"field": "fields", "message": "each field at most once"}])
    return list(wanted)


# -- a declared business resource -------------------------------------------------------

def field_names(res: Resource, wanted: list[str] | None) -> list[str]:
    return check_fields(res.name, res.field_names(), wanted)


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


class ResourceSource(Source):
    """The records of one resource in one namespace that the filters keep, as rows of
    the chosen fields (money as Decimals: typed cells, JSON numbers)."""

    def __init__(self, res: Resource, ns: str, names: list[str],
                 filters: dict[str, Any] | None) -> None:
        self.res, self.ns, self.names = res, ns, names
        self.entity = res.name
        self.keep, self.between = service.selection(res, filter_query(res, filters))
        self.money = [n for n in names if n in res.money]
        self.fields = dictionary(res, names)
        # Objects and arrays may hold money too (an order's lines): presented as the API
        # presents them. The other fields are taken as stored, which costs half as much.
        types = {f.name: f.type for f in self.fields}
        self.nested = [n for n in names if types[n] in ("object", "array")]

    def page(self, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page from `cursor` (None: the start) and the cursor after it (None: the
        end)."""
        records, after = repo.page(self.res, self.ns, by_sort2=False, cursor=cursor,
                                   limit=PAGE_ROWS, forward=True,
                                   created_between=self.between, keep=self.keep)
        return self.rows(records), after

    def segment_page(self, segment: int, segments: int, start: dict[str, Any] | None,
                     limit: int) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Rows of one parallel Scan page of `segment` (of `segments`), in no order, and
        the key after it (None: the segment's end); `limit` items of the table read."""
        records, after = repo.segment_page(self.res, self.ns, segment=segment,
                                           segments=segments, start=start, limit=limit,
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


class ResourceExportable(Exportable):
    """A declared resource: its read scope (besides exports:run), in the caller's
    namespace."""

    name = "resource"

    def __init__(self, res: Resource) -> None:
        self.res = res

    def params(self, actor: Principal, body: CreateExport) -> dict[str, Any]:
        res = self.res
        entities.require(actor, res.name, "read", "Exporting")
        field_names(res, body.fields)
        filter_query(res, body.filters)
        options = {"bom": bool(body.options and body.options.bom)}
        return {"entity": res.name, "format": body.format, "fields": body.fields,
                "filters": body.filters or {}, "options": options}

    def required_scopes(self, job: Job) -> list[str]:
        return ["exports:run", f"{self.res.name}:read"]

    def require(self, actor: Principal, job: Job) -> None:
        entities.require(actor, self.res.name, "read", "Exporting")

    def open(self, job: Job) -> Source:
        params = job.params
        names = field_names(self.res, params.get("fields"))
        return ResourceSource(self.res, "sandbox" if job.sandbox else "live", names,
                              params.get("filters"))
