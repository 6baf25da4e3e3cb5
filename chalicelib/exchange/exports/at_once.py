"""`GET /exports?type=products&format=csv`: the link at once (the Ayurveda brief's
`GET /api/export` answering `{downloadUrl, expiresAt}`).

The export is an ordinary one (a job in the history, audited, its rights re-checked),
but the request itself runs it for up to INLINE_SECONDS through the job engine: a small
export answers its link right away; one that does not finish in that time answers 202
with the job, which the jobs queue carries on, exactly as `POST /exports` would. The
engine's lease keeps the queued message and this request from running it twice.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import Field, field_validator

from chalicelib.core.errors import AppError, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.exchange.exports.models import CreateExport, Format, ListExports

INLINE_SECONDS = 12.0  # API Gateway gives 29 s; the engine keeps 5 s to suspend
LINK_PARAMS = ("type", "format", "fields", "filters", "bom")


class ExportsQuery(ListExports):
    """The history's filters, or with `type` the link-at-once export's parameters."""

    type: str | None = Field(None, min_length=1, max_length=64, description=(
        "Export this entity now and answer its link (`{downloadUrl, expiresAt, export}`), "
        "instead of listing the history; 202 with the job if it takes over about 7 "
        "seconds (12 within the request, 5 of them kept for handing it to the queue); a "
        "failure is answered as the request's error. As POST /exports' `entity`."))
    format: Format | None = Field(None, description="With `type`: csv (default), json, "
                                                    "ndjson, xlsx or xml.")
    fields: str | None = Field(None, max_length=4000, description=(
        "With `type`: comma-separated fields to export (default: all)."))
    filters: str | None = Field(None, max_length=4000, description=(
        'With `type`: a JSON object of the entity\'s filters, e.g. {"category":"garden"}.'))
    bom: bool | None = Field(None, description="With `type` and csv: a UTF-8 byte order mark.")

    @field_validator("filters")
    @classmethod
    def _json_object(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ValueError("must be a JSON object") from None
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
        return value

    def wants_link(self) -> bool:
        given = [p for p in LINK_PARAMS if getattr(self, p) is not None]
        if given and self.type is None:
            raise Unprocessable("Give `type` (the entity) to export now.", details=[
                {"field": "type", "message": f"required with {', '.join(given)}"}])
        return self.type is not None

    def body(self) -> CreateExport:
        """The same body POST /exports takes (422s name the same fields)."""
        data: dict[str, Any] = {"entity": self.type, "format": self.format or "csv"}
        if self.fields:
            data["fields"] = [f.strip() for f in self.fields.split(",") if f.strip()]
        if self.filters:
            data["filters"] = json.loads(self.filters)
        if self.bom is not None:
            data["options"] = {"bom": self.bom}
        from chalicelib.http.registry import validate

        return validate(CreateExport, data)


class _Deadline:
    """The engine's view of this request's time (it reads a Lambda context's)."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - time.monotonic()) * 1000))


def run(actor: Principal, body: CreateExport) -> tuple[Any, dict[str, str] | None]:
    """The export job, and its link if it completed within this request."""
    from chalicelib.exchange.exports import service
    from chalicelib.jobs import engine
    from chalicelib.jobs import repo as job_repo
    from chalicelib.jobs.model import COMPLETED, FAILED

    job = service.create(actor, body)
    try:
        engine.handle(job.id, job.seq, _Deadline(INLINE_SECONDS))
    except Exception:  # noqa: BLE001 - the queued message retries it; answer the job
        from chalicelib.core.logging import get_logger

        get_logger().exception("inline export step failed", extra={"jobId": job.id})
    job = job_repo.get(job.id) or job
    if job.status == FAILED:
        raise _failure(job)
    if job.status != COMPLETED:
        return job, None
    return job, service.download(actor, job.id)


def _failure(job: Any) -> AppError:
    """A job that failed within the request answers its error as the request's own (a
    right lost, a field gone): a 202 would send the client polling a dead job."""
    from chalicelib.core.errors import ERROR_FOR_STATUS

    error = (job.errors or [{}])[-1]
    code, message = str(error.get("code") or ""), str(error.get("message") or "")
    # The class of that code; a validation failure found by the job is about the
    # request's meaning (422), as POST /exports answers it.
    matches = sorted((c for c in ERROR_FOR_STATUS.values() if c.code == code),
                     key=lambda c: (c.status != 422, c.status))
    cls = matches[0] if matches else AppError
    return cls(f"The export failed: {message}" if message else None,
               extra={"exportId": job.id})
