"""The schedules API's bodies and queries: an export request exactly as POST
/api/v1/exports takes it, plus when it runs."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from chalicelib.exchange.exports.models import CreateExport, ExportOptions, FilterValue, Format
from chalicelib.exchange.exports.schedules import timing
from chalicelib.http.models import ChangeBody, PageQuery

SCHEDULE_DOC = ("`rate(N minute|minutes|hour|hours|day|days)` (at least 1 minute, at most "
                "366 days), or five cron fields `minute hour day-of-month month "
                "day-of-week` (ranges, lists, steps, JAN-DEC, SUN-SAT; when both day "
                "fields are restricted either may match) evaluated in `timezone`; "
                "`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly` too.")
ZONE_DOC = "An IANA time zone name (default UTC); the cron fields are its wall clock."


def _schedule(value: str | None) -> str | None:
    if value is not None:
        try:
            timing.parse(value)
        except timing.Invalid as exc:
            raise ValueError(str(exc)) from exc
    return value


def _zone(value: str | None) -> str | None:
    if value is not None:
        try:
            timing.zone(value)
        except timing.Invalid as exc:
            raise ValueError(str(exc)) from exc
    return value


class CreateSchedule(CreateExport):
    schedule: str = Field(min_length=1, max_length=100,
                          examples=["cron(0 6 * * MON-FRI)", "rate(1 hour)"],
                          description=SCHEDULE_DOC)
    timezone: str = Field("UTC", min_length=1, max_length=64, examples=["Europe/Paris"],
                          description=ZONE_DOC)
    name: str | None = Field(None, min_length=1, max_length=100,
                             examples=["Nightly products"])

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        return _schedule(value) or value

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        return _zone(value) or value

    def export(self) -> CreateExport:
        return CreateExport.model_validate(self.model_dump(include=set(
            CreateExport.model_fields)))


# What a schedule always has: an update may leave them out, not null them (a null was
# once ignored, and an entity or format null still reset the runs' ceiling).
_NOT_NULL = ("entity", "format", "schedule", "timezone", "paused")


def _not_null_schema(schema: dict[str, Any]) -> None:
    """The schema says so too: those fields' null branch (and null default) dropped."""
    schema["minProperties"] = 1  # ChangeBody's, which this callable replaces
    for name in _NOT_NULL:
        prop = schema.get("properties", {}).get(name)
        if prop and "anyOf" in prop:
            kept = [b for b in prop.pop("anyOf") if b.get("type") != "null"]
            prop.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
            prop.pop("default", None)


class UpdateSchedule(ChangeBody):
    """Only the given fields change; `fields: null` exports every field again."""

    model_config = ConfigDict(json_schema_extra=_not_null_schema)

    entity: str | None = Field(None, min_length=1, max_length=64)
    format: Format | None = None
    fields: list[str] | None = Field(None, min_length=1, max_length=100)
    filters: dict[str, FilterValue] | None = None
    options: ExportOptions | None = None
    schedule: str | None = Field(None, min_length=1, max_length=100,
                                 description=SCHEDULE_DOC)
    timezone: str | None = Field(None, min_length=1, max_length=64, description=ZONE_DOC)
    name: str | None = Field(None, min_length=1, max_length=100)
    paused: bool | None = Field(None, description="true pauses it (no runs, no "
                                                  "nextRunAt); false resumes it from now.")

    @field_validator(*_NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only on a given value (defaults are not validated): an explicit null.
        if value is None:
            raise ValueError(f"{info.field_name} may not be null; leave it out to keep it")
        return value

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        return _schedule(value)

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        return _zone(value)


class ListSchedules(PageQuery):
    entity: str | None = Field(None, max_length=64, description="Only this entity's.")
    paused: bool | None = Field(None, description="Only paused (true) or active (false).")
