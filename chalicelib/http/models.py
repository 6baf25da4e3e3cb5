"""Base pydantic models for request bodies and queries: camelCase on the wire,
unknown fields refused, so a typo never silently does nothing."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Body(BaseModel):
    # defer_build: validators are built on first use, not during every cold start.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True,
                              extra="forbid", str_strip_whitespace=True)


class ChangeBody(Body):
    """A partial update: every field optional, but at least one (an empty body is refused,
    and the schema says so)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})


class Query(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True,
                              extra="ignore", str_strip_whitespace=True)


class PageQuery(Query):
    per_page: int = Field(20, ge=1, le=100, description="Items per page (max 100).")
    cursor: str | None = Field(
        None, max_length=2048,
        description="Opaque cursor: the previous page's pagination.nextCursor. A filtered "
                    "listing reads at most 1,000 items per request, so a page may hold "
                    "fewer items than perPage (even none) while hasMore is true: follow "
                    "nextCursor until it is null.")
