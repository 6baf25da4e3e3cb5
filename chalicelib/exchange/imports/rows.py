"""A resource as an import sees it, all from its declaration: the columns (the create
model's fields, required as the model says), each row checked by that same model (as
the API checks a POST), and the natural key an upsert matches on.

A CSV cell is text, so CSV rows are validated as the API validates a form (lax: "12.50"
is a price, "3" a quantity); JSON rows as the API validates JSON (strict: "3" is not a
number).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from chalicelib.exchange.entities import field_type
from chalicelib.resources import repo
from chalicelib.resources.declaration import Resource

if TYPE_CHECKING:  # the writers' package loads where a job or a template needs it
    from chalicelib.exchange.formats import Field


def natural_key(res: Resource) -> str | None:
    """The field an import upserts by: the declared unique one (sku, email), or a body
    field that is the id (inventory's sku); None: rows only create."""
    return res.unique[0] if res.unique else res.id_field


def columns(res: Resource) -> list[Field]:
    """The create model's fields, by their wire names, with a type from its JSON Schema
    (objects and arrays are JSON in a CSV cell) and whether the header must name them."""
    from chalicelib.exchange.formats import Field

    schema = res.create.model_json_schema(by_alias=True)
    props, required = schema.get("properties", {}), set(schema.get("required", []))
    example = example_row(res)
    out = []
    for name, prop in props.items():
        out.append(Field(name, field_type(prop), str(prop.get("description") or ""),  # type: ignore[arg-type]
                         example.get(name), required=name in required))
    return out


def example_row(res: Resource) -> dict[str, Any]:
    """The declaration's example, as far as it is a body of the create model."""
    names = res.create.model_json_schema(by_alias=True).get("properties", {})
    return {k: v for k, v in res.example.items() if k in names}


@dataclass
class Checked:
    row: int
    body: BaseModel | None                 # None: the row has problems
    problems: list[dict[str, Any]]


def check(res: Resource, row: int, values: dict[str, Any], strict: bool) -> Checked:
    from chalicelib.exchange.formats.values import json_default

    try:
        if strict:
            body = res.create.model_validate_json(
                json.dumps(values, default=json_default), strict=True)
        else:
            body = res.create.model_validate(values)
    except ValidationError as exc:
        return Checked(row, None, [_problem(row, e) for e in exc.errors()])
    return Checked(row, body, [])


def _problem(row: int, error: Any) -> dict[str, Any]:
    loc = ".".join(str(p) for p in error.get("loc", ())) or None
    kind = error.get("type", "")
    if kind == "missing":
        message = "A value is required."
    elif kind == "extra_forbidden":
        message = "Unknown field."
    elif kind == "string_pattern_mismatch" and loc:
        # The regular expression means nothing to whoever fills a spreadsheet.
        shown = str(error.get("input", ""))
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        message = f"{shown!r} is not a valid {loc.rsplit('.', 1)[-1]}."
    else:
        message = str(error.get("msg", "Not valid."))
    return {"row": row, "field": loc, "message": message}


def key_of(values: dict[str, Any], key: str | None) -> str | None:
    """The natural key's value as uniqueness compares it (case-insensitive, trimmed)."""
    value = values.get(key) if key else None
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip().lower()
    return text or None


def row_id(res: Resource, job_id: str, row: int) -> str:
    """An id that the same row of the same import always gets: applying a chunk again
    finds the rows it created (entities without a natural key)."""
    digest = hashlib.sha256(f"{job_id}#{row}".encode()).hexdigest()
    return f"{res.id_prefix}_imp{digest[:23]}"


def targets(res: Resource, ns: str, key: str, values: list[str]) -> list[str | None]:
    """The ids of the records these natural-key values name, None where there is none
    yet: by the uniqueness items (sku, email; case-insensitive), or the value itself
    when the key is the id (inventory's sku). Imports and syncs upsert through it."""
    if res.unique and key == res.unique[0]:
        found = repo.claimed(res, ns, key, values)
        return [found.get(v.lower()) for v in values]
    there = repo.existing(res, ns, values)
    return [v if v in there else None for v in values]


def update_body(res: Resource, body: dict[str, Any]) -> BaseModel:
    """A create body's fields (the id field left out) as the resource's update body:
    what an upsert sends to an existing record."""
    from chalicelib.core.errors import Conflict, Unprocessable

    if res.update is None:
        raise Conflict(f"This {res.singular} exists, and an import cannot change "
                       f"a {res.singular}.")
    given = {k: v for k, v in body.items() if k != res.id_field}
    try:
        return res.update.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Unprocessable(str(first.get("msg")), details=[{"field": ".".join(
            str(p) for p in first.get("loc", ()))}]) from exc
