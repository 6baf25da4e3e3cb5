"""Import files in the files bucket (S3); the object-level calls are the exports' (one
bucket, one set of helpers), the keys and ranged reads are here.

  imports/uploads/<owner>/<upload id>.<csv|json>   a file PUT through a presigned URL
  imports/inline/<owner>/<id>.<csv|json>           a request's body, kept for its job
  imports/<job id>/duplicates.json                 later rows repeating a natural key
  imports/<job id>/errors/<chunk>.csv              a chunk's row problems (rewritten, not
                                                   added to, when a chunk is redone)
  imports/<job id>/errors.csv                      the error file: row,field,message
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from chalicelib.core import aws
from chalicelib.core.settings import get_settings
from chalicelib.exchange.exports.storage import LINK_SECONDS, get, link, put, remove, size_of

__all__ = ["LINK_SECONDS", "get", "link", "put", "remove", "size_of"]

PREFIX = "imports/"
# Uploads, request bodies and error files hold callers' (possibly personal) data: kept
# this long, then S3 removes them (infra/template.py's lifecycle rule reads this).
RETENTION_DAYS = 7
UPLOAD_SECONDS = 900      # an upload URL's life
WHOLE = 1 << 20           # files up to this size are read once per invocation
MEDIA = {"csv": "text/csv", "json": "application/json"}


def folder(job_id: str) -> str:
    return f"{PREFIX}{job_id}/"


def upload_key(owner: str, upload_id: str, fmt: str) -> str:
    return f"{PREFIX}uploads/{owner}/{upload_id}.{fmt}"


def inline_key(owner: str, name: str, fmt: str) -> str:
    return f"{PREFIX}inline/{owner}/{name}.{fmt}"


def duplicates_key(job_id: str) -> str:
    return f"{folder(job_id)}duplicates.json"


def part_key(job_id: str, chunk: int) -> str:
    return f"{folder(job_id)}errors/{chunk:07d}.csv"


def errors_key(job_id: str) -> str:
    return f"{folder(job_id)}errors.csv"


def upload_link(key: str, fmt: str) -> str:
    """A presigned PUT; the client sends the file with this Content-Type."""
    return str(aws.client("s3").generate_presigned_url("put_object", Params={
        "Bucket": get_settings().bucket_name, "Key": key, "ContentType": MEDIA[fmt]},
        ExpiresIn=UPLOAD_SECONDS))


def opener(key: str, size: int) -> bytes | Callable[[int], BinaryIO]:
    """What the readers take: the bytes of a small file, else a function opening the
    object at a byte offset (a GET with a Range), so a large file is never held."""
    if size <= WHOLE:
        return get(key)
    s3, bucket = aws.client("s3"), get_settings().bucket_name

    def at(offset: int) -> BinaryIO:
        if offset >= size:
            return io.BytesIO(b"")
        body: Any = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-")["Body"]
        return body

    return at


def problems_csv(problems: Iterable[dict[str, Any]], header: bool) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(["row", "field", "message"])
    for p in problems:
        writer.writerow(["" if p.get("row") is None else p["row"], p.get("field") or "",
                         p["message"]])
    return out.getvalue().encode()


def write_error_file(job_id: str, first: list[dict[str, Any]] | None = None) -> int:
    """The error file from the chunks' parts (in chunk order), or from `first` (the
    file's own problems); answers its size. The parts are a hundredth of the rows in the
    usual case, so they are joined in memory."""
    s3, bucket = aws.client("s3"), get_settings().bucket_name
    body = bytearray(problems_csv(first or [], header=True))
    prefix = f"{folder(job_id)}errors/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in sorted(page.get("Contents", []), key=lambda o: o["Key"]):
            body += get(obj["Key"])
    put(errors_key(job_id), bytes(body), "text/csv; charset=utf-8")
    remove(prefix)
    return len(body)
