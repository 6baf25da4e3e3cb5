"""A full-table dump for admins by DynamoDB's own export to S3: `POST /exports
{"entity": "table", "format": "dynamodb_json"}`.

The job asks DynamoDB for ExportTableToPointInTime (the table keeps point-in-time
recovery: infra/template.py) into exports/<job id>/native/ of the files bucket; AWS
reads the table from its backups, using none of the table's capacity and no function's
time. The job then looks at DescribeExport every `export_poll_seconds` (a step
that waits) until it is COMPLETED (its result lists the manifest and data objects, each
downloaded through a presigned link) or FAILED, or fails itself after WAIT_LIMIT (AWS's
exports take minutes to a few hours). Every item of every owner and namespace
is in it, so only an admin (not a sandbox principal) may run it; the engine re-checks
`admin` on every invocation. A cancel removes what was written so far, but DynamoDB's
export cannot be stopped: files it writes later are removed by the bucket's lifecycle
rule with the rest of exports/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, Forbidden, Unprocessable
from chalicelib.core.principal import Principal
from chalicelib.core.settings import get_settings
from chalicelib.exchange.exports import sources, storage
from chalicelib.jobs.kinds import JobFailed, Run, Step
from chalicelib.jobs.model import Job

if TYPE_CHECKING:
    from chalicelib.exchange.exports.models import CreateExport

NAME = "table"
FORMAT = "dynamodb_json"
MEDIA = "application/json"
WAIT_LIMIT = 24 * 3600  # seconds the job polls DescribeExport before it fails


def prefix(job_id: str) -> str:
    return f"{storage.folder(job_id)}native"


def _authorize(actor: Principal) -> None:
    if not actor.is_admin or actor.sandbox:
        raise Forbidden("A full-table export is an admin's to run.",
                        details=[{"field": "scope", "message": "needs admin"}])


class TableExportable(sources.Exportable):
    """The whole table, as DynamoDB exports it."""

    name = NAME

    def params(self, actor: Principal, body: CreateExport) -> dict[str, Any]:
        _authorize(actor)
        bad = [{"field": f, "message": "not taken by a full-table export"}
               for f in ("fields", "filters", "options") if getattr(body, f)]
        if body.format != FORMAT:
            bad.append({"field": "format", "message": f"must be {FORMAT}"})
        if bad:
            raise Unprocessable("A full-table export takes format dynamodb_json only.",
                                details=bad)
        return {"entity": NAME, "format": FORMAT, "fields": None, "filters": {},
                "options": {}}

    def required_scopes(self, job: Job) -> list[str]:
        return ["exports:run", "admin"]

    def require(self, actor: Principal, job: Job) -> None:
        _authorize(actor)

    def open(self, job: Job) -> sources.Source:
        raise JobFailed("INTERNAL_ERROR", "A full-table export has no rows to page.")


def _dynamodb() -> Any:
    from chalicelib.store import table as store

    return store.client()


class NativeRun(Run):
    def __init__(self, job: Job) -> None:
        self.job = job
        point = job.checkpoint or {}
        self.arn: str | None = point.get("exportArn")
        self.since = float(point.get("since") or clock.parse_iso(
            job.started_at or clock.iso()))

    def step(self) -> Step:
        poll = get_settings().export_poll_seconds
        if self.arn is None:
            self.arn = self._start()
            return Step(0, checkpoint=self.suspend(), wait=poll)
        described = _dynamodb().describe_export(ExportArn=self.arn)["ExportDescription"]
        status = described.get("ExportStatus")
        if status == "IN_PROGRESS":
            if clock.now() - self.since > WAIT_LIMIT:
                raise JobFailed("INTERNAL_ERROR", "DynamoDB's export did not finish "
                                f"within {WAIT_LIMIT // 3600} hours; run it again.")
            return Step(0, wait=poll)
        if status != "COMPLETED":
            raise JobFailed("INTERNAL_ERROR", "DynamoDB's export failed: "
                            f"{described.get('FailureCode') or status}: "
                            f"{described.get('FailureMessage') or ''}".rstrip(": "))
        rows = int(described.get("ItemCount") or 0)
        return Step(rows, done=True, result=self._result(described, rows))

    def suspend(self) -> dict[str, Any]:
        return {"exportArn": self.arn, "since": self.since}

    def _start(self) -> str:
        from botocore.exceptions import ClientError

        ddb, settings = _dynamodb(), get_settings()
        table = ddb.describe_table(TableName=settings.table_name)["Table"]
        try:
            started = ddb.export_table_to_point_in_time(
                TableArn=table["TableArn"], S3Bucket=settings.bucket_name,
                S3Prefix=prefix(self.job.id), ExportFormat="DYNAMODB_JSON",
                ClientToken=self.job.id)  # a repeated request starts no second export
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code.startswith("PointInTimeRecoveryUnavailable"):
                raise JobFailed("CONFLICT", "The table's point-in-time recovery is off; "
                                "DynamoDB exports only from it.") from exc
            raise
        return str(started["ExportDescription"]["ExportArn"])

    def _result(self, described: dict[str, Any], rows: int) -> dict[str, Any]:
        found: list[tuple[str, int]] = []
        after = None
        while True:
            page, more = storage.listed(prefix(self.job.id) + "/", after, 1000)
            found += page
            if not more:
                break
            after = page[-1][0]
        files = [{"name": key.rsplit("/", 1)[-1], "key": key, "bytes": size,
                  "kind": "manifest" if "/manifest-" in key else "data"}
                 for key, size in found if not key.endswith("/_started")]
        files.sort(key=lambda f: (f["kind"] != "manifest", f["key"]))
        total = sum(int(f["bytes"]) for f in files)
        return {"rows": rows, "bytes": total, "parts": len(files), "files": files,
                "exportArn": self.arn, "exportTime": clock.iso(_epoch(described)),
                "expiresAt": clock.iso(clock.now() + storage.RETENTION_DAYS * 86400)}


def _epoch(described: dict[str, Any]) -> float:
    at: Any = described.get("ExportTime")
    return float(at.timestamp()) if at is not None and hasattr(at, "timestamp") \
        else clock.now()


def media_of(name: str) -> str:
    """A dump's file's type: its data gzipped, its manifests JSON, their checksums
    (manifest-*.md5) text."""
    if name.endswith(".gz"):
        return "application/gzip"
    return MEDIA if name.endswith(".json") else "text/plain"


def links(job: Job) -> dict[str, Any]:
    """Presigned links to every file of a completed dump (the first: its manifest when
    DynamoDB wrote one)."""
    files = [{"name": f["name"], "kind": f["kind"], "bytes": f["bytes"],
              "downloadUrl": storage.link(f["key"], f["name"], media_of(f["name"]))}
             for f in (job.result or {}).get("files", [])]
    if not files:
        raise Conflict("The export holds no files.")
    return {"downloadUrl": files[0]["downloadUrl"], "files": files}


KIND = sources.register(TableExportable())
