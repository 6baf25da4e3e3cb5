"""A fanned-out export's file, assembled from its segments' chunks (segments.py) by an
S3 multipart upload, and the data dictionary and result every export ends with.

Chunks are taken in key order (segment by segment). A chunk of at least
MIN_PART_BYTES is copied into the file by S3 itself (UploadPartCopy): its bytes never
pass through the function. The file's opening (a CSV header, `[`, the XML root), the
first chunk (whose leading JSON separator goes) and any chunk too small for a part of
its own are gathered in memory until they make a part; memory thus holds less than a
part plus a chunk. Each step writes at most STEP_PARTS parts and takes at most about
STEP_SECONDS (the engine checks the invocation's time only between steps), then
checkpoints (what it holds below a part stored as a carry-over object, as the serial
export does), so the assembly of any number of chunks resumes where it stopped and
repeats no part.
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.core import clock
from chalicelib.exchange.exports import segments, storage
from chalicelib.exchange.exports.sources import Source
from chalicelib.jobs.kinds import JobFailed
from chalicelib.jobs.model import Job

# S3's smallest part but the last (moto enforces it too; tests lower both).
MIN_PART_BYTES = 5 * 1024 * 1024
BATCH = 200  # chunk keys one listing asks for
STEP_PARTS = 2  # parts one step writes at most: a 5 GiB part copy takes seconds
STEP_SECONDS = 5.0  # and the time it takes, about (small chunks are read one by one)


def _writer_class(fmt: str) -> Any:
    from chalicelib.exchange.formats import writer_class

    return writer_class(fmt)


def finish_file(key: str, upload_id: str | None, parts: int, tail: bytes,
                media: str) -> int:
    """The file's last bytes written and its upload completed (one PutObject when no
    part was uploaded); answers its part count."""
    if upload_id is None:
        storage.put(key, tail, media)
        return 1
    if tail:  # the last part may be small (not empty)
        parts += 1
        storage.upload_part(key, upload_id, parts, tail)
    # Gone: an earlier run completed it and died before saying so.
    if not storage.complete(key, upload_id) and storage.size_of(key) is None:
        raise JobFailed("INTERNAL_ERROR", "The file's upload was lost; run the export again.")
    return parts


def file_result(job: Job, source: Source, fmt: str, *, rows: int, size: int, parts: int,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Writes the data dictionary beside the file; answers the job's result."""
    from chalicelib.exchange.formats import sidecar

    cls, entity = _writer_class(fmt), source.entity
    finished = clock.now()
    dictionary = sidecar(source.fields, entity=entity, format=fmt, extra={
        "exportId": job.id, "rows": rows, "generatedAt": clock.iso(finished),
        "filters": job.params.get("filters") or {}, **source.about(), **(extra or {})})
    storage.put(storage.dictionary_key(job.id, entity), dictionary, "application/json")
    stem = f"{entity}-{job.id}"
    return {
        "rows": rows, "bytes": size, "parts": parts,
        "file": {"name": f"{stem}.{cls.extension}", "contentType": cls.media_type,
                 "bytes": size},
        "dictionary": {"name": f"{stem}.dictionary.json",
                       "contentType": "application/json", "bytes": len(dictionary)},
        "expiresAt": clock.iso(finished + storage.RETENTION_DAYS * 86400), **(extra or {})}


class Assembly:
    """The assembly's state lives in the export's checkpoint (`state()`)."""

    def __init__(self, job: Job, source: Source, fmt: str, point: dict[str, Any]) -> None:
        self.job, self.source, self.format = job, source, fmt
        cls = _writer_class(fmt)
        self.key = storage.file_key(job.id, source.entity, cls.extension)
        self.media = cls.media_type
        self.rows, self.segments = int(point["rows"]), int(point["segments"])
        self.upload_id: str | None = point.get("uploadId")
        self.parts = int(point.get("parts", 0))
        self.after: str | None = point.get("after")
        self.size = int(point.get("size", 0))
        self.seq = int(point.get("seq", 0))
        self.pending = bytearray()
        if point.get("carry"):
            self.pending += storage.get(point["carry"])
        elif self.after is None:  # the beginning: the file's opening bytes
            self.pending += self._writer().write([])
            self.size = len(self.pending)

    def _writer(self) -> Any:
        return self.source.open_writer(self.format, self.job.params.get("options") or {})

    def step(self) -> dict[str, Any] | None:
        """Takes the next chunks; at the end, completes the file and answers the job's
        result (None: more to take)."""
        parts, began = self.parts, time.monotonic()
        batch, more = storage.listed(storage.chunks_folder(self.job.id), self.after,
                                     BATCH)
        for key, size in batch:
            self._take(key, size)
            self.after = key
            if self.parts - parts >= STEP_PARTS or time.monotonic() - began > STEP_SECONDS:
                return None
        if not more:
            return self._finish()
        return None

    def state(self) -> dict[str, Any]:
        """A checkpoint right here: what is held below a part goes to a carry-over."""
        carry = None
        self.seq += 1
        if self.pending:
            carry = storage.carry_key(self.job.id, self.seq)
            storage.put(carry, bytes(self.pending), "application/octet-stream")
        return {"rows": self.rows, "segments": self.segments, "uploadId": self.upload_id,
                "parts": self.parts, "after": self.after, "size": self.size,
                "seq": self.seq, "carry": carry}

    def _take(self, key: str, size: int) -> None:
        first = self.after is None
        if not first and not self.pending and size >= MIN_PART_BYTES:
            self._part(copy_of=key)
            self.size += size
            return
        data = storage.get(key)
        if first and self.format == "json":
            data = data[len(segments.JSON_SEPARATOR):]
        self.pending += data
        self.size += len(data)
        if len(self.pending) >= MIN_PART_BYTES:
            self._part(data=bytes(self.pending))
            self.pending.clear()

    def _part(self, *, data: bytes = b"", copy_of: str | None = None) -> None:
        if self.upload_id is None:
            self.upload_id = storage.start_upload(self.key, self.media)
        self.parts += 1
        done = (storage.copy_part(self.key, self.upload_id, self.parts, copy_of)
                if copy_of else
                storage.upload_part(self.key, self.upload_id, self.parts, data))
        if not done:
            raise JobFailed("INTERNAL_ERROR", "The file's upload was aborted; run the "
                            "export again.")

    def _finish(self) -> dict[str, Any]:
        writer = self._writer()
        writer.write([])
        writer.rows = self.rows  # JSON closes an empty array otherwise
        closing = writer.finish()
        self.pending += closing
        self.size += len(closing)
        self.parts = finish_file(self.key, self.upload_id, self.parts, bytes(self.pending),
                                 self.media)
        result = file_result(self.job, self.source, self.format, rows=self.rows,
                             size=self.size, parts=self.parts,
                             extra={"rowOrder": "unordered", "segments": self.segments})
        storage.remove(storage.chunks_folder(self.job.id))
        storage.remove(storage.folder(self.job.id) + "carry/")
        return result
