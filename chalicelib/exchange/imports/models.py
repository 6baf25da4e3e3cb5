"""The imports API's queries (the file itself is the body: text/csv or a JSON array, or
the Ayurveda brief's JSON object `{type, data, options?}` around the array)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.http.models import Body, PageQuery, Query


class CreateImport(Query):
    entity: str | None = Field(None, min_length=1, max_length=64, examples=["products"],
                               description="A business resource: products, customers, "
                                           "inventory, orders, tickets (every declared "
                                           "one). Required, unless a JSON object body "
                                           "names it as `type`.")
    dry_run: bool = Field(False, description="Check every row, write nothing.")
    upload_id: str | None = Field(
        None, min_length=1, max_length=100, pattern=r"^upl_[0-9a-z]+$",
        description="A file sent through POST /imports/uploads instead of the body.")


class CreateUpload(Query):
    format: Literal["csv", "json"] = Field("csv", description="csv | json: the file's "
                                                              "Content-Type when it is PUT.")


class TemplateQuery(Query):
    format: Literal["csv", "xlsx"] = Field("csv", description="csv | xlsx.")


class ListImports(PageQuery):
    entity: str | None = Field(None, max_length=64, description="Only imports of this entity.")


class ImportOptions(Body):
    dry_run: bool = Field(False, description="As the query's dryRun.")


class ImportEnvelope(Body):
    """A JSON object body (the Ayurveda brief's `POST /api/import {type, data, options?}`):
    `data` is the file's array of rows."""

    type: str | None = Field(None, min_length=1, max_length=64,
                             description="The entity (case-insensitive), as the query's.")
    data: list[dict[str, Any]] = Field(description="The rows, as a JSON array file holds.")
    options: ImportOptions | None = None


# The file a POST /imports body is, for the OpenAPI document (the route reads the raw
# body, so no body model describes it): a CSV, a JSON array of objects, or the envelope.
FILE_BODY: dict[str, Any] = {
    "required": False,
    "description": "The file (up to 1 MiB; a larger one through uploadId, with no body): "
                   "text/csv (a header row, then rows) or application/json (an array of "
                   "objects, or {type, data, options: {dryRun}}).",
    "content": {
        "text/csv": {"schema": {"type": "string"},
                     "example": "sku,name,price,category\nMUG-01,Mug,12.50,kitchen\n"},
        "application/json": {
            "schema": {"oneOf": [
                {"type": "array", "minItems": 1, "items": {"type": "object"}},
                {"type": "object", "required": ["data"], "additionalProperties": False,
                 "properties": {
                     "type": {"type": "string", "minLength": 1, "maxLength": 64},
                     "data": {"type": "array", "minItems": 1,
                              "items": {"type": "object"}},
                     "options": {"type": "object", "additionalProperties": False,
                                 "properties": {"dryRun": {"type": "boolean"}}}}}]},
            "example": [{"sku": "MUG-01", "name": "Mug", "price": "12.50"}]},
    },
}
