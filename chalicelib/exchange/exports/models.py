"""The exports API's bodies and queries."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator

from chalicelib.http.models import Body, PageQuery
from chalicelib.jobs.model import STATUSES

Format = Literal["csv", "json", "ndjson", "xlsx", "xml", "dynamodb_json"]
FilterValue = str | int | float | bool | list[str | int | float]


class ExportOptions(Body):
    bom: bool = Field(False, description="CSV only: start the file with a UTF-8 byte order "
                                         "mark, so that Excel reads it as UTF-8.")


class CreateExport(Body):
    entity: str = Field(min_length=1, max_length=64, examples=["products"],
                        validation_alias=AliasChoices("entity", "type"),
                        description="A business resource (orders, products, customers, "
                                    "inventory, tickets: every declared one), or the "
                                    "platform's data: webhook_deliveries, access_logs, "
                                    "audit_logs; or `table` (admins: the whole table, by "
                                    "DynamoDB's export, format dynamodb_json). `type` is "
                                    "taken too (the Ayurveda brief's name).")
    format: Format = Field("csv", description="csv | json | ndjson | xlsx | xml; "
                                              "dynamodb_json: entity `table` only (an "
                                              "admin's full-table dump by DynamoDB's "
                                              "export to S3).")
    fields: list[str] | None = Field(
        None, min_length=1, max_length=100, examples=[["id", "sku", "name", "price"]],
        description="The fields to export, in this order (default: all). An unknown field "
                    "answers 422 naming it.")
    filters: dict[str, FilterValue] | None = Field(
        None, examples=[{"category": ["kitchen", "garden"], "priceMin": "10"}],
        description="The entity's list filters (`status`, `category`, `<field>Min`/"
                    "`<field>Max`, `createdAfter`/`createdBefore`, `q`; the platform's "
                    "data: its listing's filters, and `from`/`to`); a list stands "
                    "for several values. An unknown filter answers 422 naming it.")
    options: ExportOptions | None = None


class ListExports(PageQuery):
    status: str | None = Field(None, max_length=100,
                               description="Comma-separated: " + ", ".join(STATUSES) + ".")
    entity: str | None = Field(None, max_length=64, description=(
        "Only exports of this entity (a resource, webhook_deliveries, access_logs, "
        "audit_logs, or customer_subject: the data subject exports)."))

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        if value is not None and any(s not in STATUSES for s in value.split(",")):
            raise ValueError("unknown status")
        return value
