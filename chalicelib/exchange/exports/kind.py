"""The export job: pages of a Source (sources.py) through a writer into S3.

Bytes are buffered until a part is full (S3's smallest part but the last: 5 MiB), then
the writer checkpoints, the part is uploaded with the next part number, and the job's
checkpoint records the cursor after the page, the writer's state and the parts so far.
An invocation running out of time stores what it holds below a part as a carry-over
object and records that instead. Resuming from a checkpoint therefore produces exactly
the bytes that follow it: a worker that died after uploading part N but before its
checkpoint was saved uploads part N again, which replaces it. Small exports (one part)
are a single PutObject. The data dictionary goes beside the file as a sidecar JSON (and,
in XLSX, as the workbook's second sheet). A large export of a resource fans out over
parallel Scan segments instead (fanout.py), decided before its first checkpoint.
"""

from __future__ import annotations

from typing import Any

from chalicelib.exchange.exports import (
    events,
    fanout,
    native,
    platform,  # noqa: F401 - registers the platform's data (deliveries, logs)
    sources,
    storage,
    subject,  # noqa: F401 - registers the data subject's export
)
from chalicelib.exchange.exports.assemble import file_result, finish_file
from chalicelib.jobs import kinds
from chalicelib.jobs.kinds import JobFailed, Kind, Run, Step
from chalicelib.jobs.model import Job

ID_PREFIX = "exp"


# One writer's module is imported for its name and type (a download); the rest where a
# job runs, not with the routes at every cold start.

def extension(fmt: str) -> str:
    from chalicelib.exchange.formats import writer_class

    return writer_class(fmt).extension


def media_type(fmt: str) -> str:
    from chalicelib.exchange.formats import writer_class

    return writer_class(fmt).media_type


class ExportRun(Run):
    def __init__(self, job: Job) -> None:
        params = job.params
        self.job, self.format = job, str(params["format"])
        self.source = sources.find(str(params["entity"])).open(job)
        self.entity, self.fields = self.source.entity, self.source.fields
        self.key = storage.file_key(job.id, self.entity, extension(self.format))
        self.media = media_type(self.format)
        point = job.checkpoint or {}
        self.cursor: str | None = point.get("cursor")
        self.upload_id: str | None = point.get("uploadId")
        self.parts: int = int(point.get("parts", 0))
        self.seq: int = int(point.get("seq", 0))
        self.buffer = bytearray()
        if point:
            self.writer = self.source.resume_writer(point["writer"])
            if point.get("carry"):
                self.buffer += storage.get(point["carry"])
        else:
            self.writer = self.source.open_writer(self.format, params.get("options") or {})

    def step(self) -> Step:
        rows, self.cursor = self.source.page(self.cursor)
        self.buffer += self.writer.write(rows)
        if self.cursor is None:
            return self._finish()
        if len(self.buffer) >= storage.PART_BYTES:
            return Step(self.writer.rows, checkpoint=self._upload_part())
        return Step(self.writer.rows)

    def suspend(self) -> dict[str, Any]:
        tail, state = self.writer.checkpoint()
        self.buffer += tail
        self.seq += 1
        carry = None
        if self.buffer:
            carry = storage.carry_key(self.job.id, self.seq)
            storage.put(carry, bytes(self.buffer), "application/octet-stream")
        return self._point(state, carry)

    def _upload_part(self) -> dict[str, Any]:
        tail, state = self.writer.checkpoint()
        self.buffer += tail
        if self.upload_id is None:
            self.upload_id = storage.start_upload(self.key, self.media)
        self.parts += 1
        self.seq += 1
        if not storage.upload_part(self.key, self.upload_id, self.parts, bytes(self.buffer)):
            raise JobFailed("INTERNAL_ERROR", "The file's upload was aborted; run the "
                            "export again.")
        self.buffer.clear()
        return self._point(state, None)

    def _point(self, writer_state: dict[str, Any], carry: str | None) -> dict[str, Any]:
        return {"cursor": self.cursor, "writer": writer_state, "uploadId": self.upload_id,
                "parts": self.parts, "seq": self.seq, "carry": carry}

    def _finish(self) -> Step:
        self.buffer += self.writer.finish()
        self.parts = finish_file(self.key, self.upload_id, self.parts, bytes(self.buffer),
                                 self.media)
        rows = self.writer.rows
        result = file_result(self.job, self.source, self.format, rows=rows,
                             size=self.writer.size, parts=self.parts)
        storage.remove(storage.folder(self.job.id) + "carry/")
        return Step(rows, done=True, result=result)


class ExportKind(Kind):
    name = "export"

    def required_scopes(self, job: Job) -> list[str]:
        return sources.find(str(job.params.get("entity"))).required_scopes(job)

    def start(self, job: Job) -> Run:
        # A declaration or fields changed under it: the engine fails it.
        point = job.checkpoint
        if job.params.get("entity") == native.NAME:
            return native.NativeRun(job)
        if point is not None:
            return fanout.FanoutRun(job) if "fanout" in point else ExportRun(job)
        segments = fanout.wanted(job)  # decided once, before the first checkpoint
        return fanout.FanoutRun(job, segments) if segments else ExportRun(job)

    def cleanup(self, job: Job) -> None:
        fanout.stop(job)  # a fanned-out export's segments first: they write chunks
        storage.remove(storage.folder(job.id))

    def events(self, job: Job) -> list[dict[str, Any]]:
        return events.of(job)


KIND = kinds.register(ExportKind())
