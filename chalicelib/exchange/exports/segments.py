"""One segment of a fanned-out export (fanout.py): a job of its own (kind
`export_segment`) that reads segment i of a DynamoDB parallel Scan of the table
(Segment=i, TotalSegments=N), keeps the export's resource in its namespace (the Scan's
filter: the listing key <KIND>#<ns> and the createdAt range; the other filters in
Python, as the serial source applies them) and writes the rows with the export's writer,
without the file's opening or closing (the assembler writes those once).

Its output is chunk objects, exports/<export id>/chunks/<i>/<n>: a chunk is stored once
the writer holds CHUNK_BYTES (at least S3's part minimum, so the assembler has S3 copy
it into the file), and whatever it holds when the invocation suspends or the segment
ends. The checkpoint after a chunk records the Scan's key after the page and the
number of chunks, so a worker that dies repeats nothing: the chunk after the checkpoint
is written again under the same key. A segment runs as its export's creator: the
engine re-checks the export's required scopes on every invocation.
"""

from __future__ import annotations

from typing import Any

from chalicelib.exchange.exports import sources, storage
from chalicelib.jobs import kinds
from chalicelib.jobs.kinds import JobFailed, Kind, Run, Step
from chalicelib.jobs.model import ACTIVE, Job

NAME = "export_segment"
CHUNK_BYTES = 8 * 1024 * 1024  # >= S3's 5 MiB part minimum: S3 copies it server-side
SCAN_ITEMS = 1000  # items (of the whole table) one Scan page reads
# JSON's writer leads its first row with "\n", every other with ",\n"; in a segment
# every row keeps its separator and the assembler drops the file's very first.
JSON_SEPARATOR = b","


def child_id(export_id: str, segment: int) -> str:
    return f"{export_id}-s{segment:02d}"


class SegmentRun(Run):
    def __init__(self, job: Job) -> None:
        params = job.params
        self.job = job
        self.export_id = str(params["parent"])
        self.segment, self.segments = int(params["segment"]), int(params["segments"])
        self.format = str(params["format"])
        source = sources.find(str(params["entity"])).open(job)
        if not isinstance(source, sources.ResourceSource):
            raise JobFailed("INTERNAL_ERROR", "Only a resource's export fans out.")
        self.source = source
        point = job.checkpoint or {}
        self.cursor: dict[str, Any] | None = point.get("cursor")
        self.chunks = int(point.get("chunks", 0))
        self.size = int(point.get("bytes", 0))
        self.buffer = bytearray()
        if point:
            self.writer = source.resume_writer(point["writer"])
        else:
            self.writer = source.open_writer(self.format, params.get("options") or {})
            self.writer.started = True  # the opening is the assembler's

    def step(self) -> Step:
        page, self.cursor = self.source.segment_page(self.segment, self.segments,
                                                     self.cursor, SCAN_ITEMS)
        first = self.writer.rows == 0
        data = self.writer.write(page)
        if data and first and self.format == "json":
            data = JSON_SEPARATOR + data
        self.buffer += data
        if self.cursor is None:
            self._store_chunk(self.writer.checkpoint()[0])
            done = self.writer.rows
            return Step(done, done=True, result={
                "segment": self.segment, "rows": done, "chunks": self.chunks,
                "bytes": self.size})
        if len(self.buffer) >= CHUNK_BYTES:
            return Step(self.writer.rows, checkpoint=self.suspend())
        return Step(self.writer.rows)

    def suspend(self) -> dict[str, Any]:
        tail, state = self.writer.checkpoint()
        self._store_chunk(tail)
        return {"cursor": self.cursor, "writer": state, "chunks": self.chunks,
                "bytes": self.size}

    def _store_chunk(self, tail: bytes) -> None:
        self.buffer += tail
        if not self.buffer:
            return
        self.chunks += 1
        storage.put(storage.chunk_key(self.export_id, self.segment, self.chunks),
                    bytes(self.buffer), "application/octet-stream")
        self.size += len(self.buffer)
        self.buffer.clear()


class SegmentKind(Kind):
    name = NAME

    def required_scopes(self, job: Job) -> list[str]:
        return sources.find(str(job.params.get("entity"))).required_scopes(job)

    def start(self, job: Job) -> Run:
        return SegmentRun(job)

    def cleanup(self, job: Job) -> None:
        storage.remove(storage.segment_folder(str(job.params["parent"]),
                                              int(job.params["segment"])))

    def finished(self, job: Job) -> None:
        """The export is told at once (its own polling is the fallback). With the
        sequence after its current one: an export holding its lease right now leaves
        with that sequence (its wait), and the engine brings back a message past the
        sequence of a leased job shortly, where one at it would be dropped as stale."""
        from chalicelib.jobs import queue
        from chalicelib.jobs import repo as job_repo

        export = job_repo.get(str(job.params["parent"]))
        if export is not None and export.status in ACTIVE:
            queue.send(export.id, export.seq + 1)


KIND = kinds.register(SegmentKind())
