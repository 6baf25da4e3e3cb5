"""The schedules API's bodies and queries: an export request exactly as POST
/api/v1/exports takes it, plus when it runs."""

from __future__ import annotations

from pydantic import Field, field_validator

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


class UpdateSchedule(ChangeBody):
    """Only the given fields change; `fields: null` exports every field again."""

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
