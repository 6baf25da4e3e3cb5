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
