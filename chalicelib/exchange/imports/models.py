"""The imports API's queries (the file itself is the body: text/csv or a JSON array)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.http.models import PageQuery, Query


class CreateImport(Query):
    entity: str = Field(min_length=1, max_length=64, examples=["products"],
                        description="A business resource: products, customers, inventory, "
                                    "orders, tickets (every declared one).")
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
