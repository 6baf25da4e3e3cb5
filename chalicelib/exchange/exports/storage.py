"""Export files in the files bucket (S3): the only module that speaks S3.

  exports/<job id>/<entity>.<ext>                the file
  exports/<job id>/<entity>.dictionary.json      its data dictionary (sidecar)
  exports/<job id>/carry/<seq>                   bytes held over between invocations
  exports/<job id>/chunks/<segment>/<n>          a fanned-out export's segment output

The bucket's lifecycle rule (infra/template.py) deletes everything under exports/ after
RETENTION_DAYS and aborts multipart uploads left incomplete for a day.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import aws
from chalicelib.core.settings import get_settings

PREFIX = "exports/"
RETENTION_DAYS = 7       # infra/template.py's lifecycle rule reads this
LINK_SECONDS = 900       # a download link's life
# S3's smallest part but the last; an export buffers a part this size before it uploads.
PART_BYTES = 5 * 1024 * 1024


def _s3() -> Any:
    return aws.client("s3")


def _bucket() -> str:
    return get_settings().bucket_name


def folder(job_id: str) -> str:
    return f"{PREFIX}{job_id}/"


def file_key(job_id: str, entity: str, extension: str) -> str:
    return f"{folder(job_id)}{entity}.{extension}"


def dictionary_key(job_id: str, entity: str) -> str:
    return f"{folder(job_id)}{entity}.dictionary.json"


def carry_key(job_id: str, seq: int) -> str:
    return f"{folder(job_id)}carry/{seq:06d}"


def chunks_folder(job_id: str) -> str:
    return f"{folder(job_id)}chunks/"


def segment_folder(job_id: str, segment: int) -> str:
    return f"{chunks_folder(job_id)}{segment:03d}/"


def chunk_key(job_id: str, segment: int, number: int) -> str:
    """Zero-padded: the keys' order is the file's (segment by segment, chunk by chunk)."""
    return f"{segment_folder(job_id, segment)}{number:06d}"


def listed(prefix: str, after: str | None,
           limit: int) -> tuple[list[tuple[str, int]], bool]:
    """Up to `limit` (at most 1000) objects under `prefix` after key `after`, in key
    order, with their sizes; and whether more follow (S3's IsTruncated: a page may
    hold fewer keys than asked and still not be the last)."""
    extra = {"StartAfter": after} if after else {}
    page = _s3().list_objects_v2(Bucket=_bucket(), Prefix=prefix, MaxKeys=limit, **extra)
    found = [(o["Key"], int(o["Size"])) for o in page.get("Contents", [])]
    return found, bool(page.get("IsTruncated")) and bool(found)


def put(key: str, data: bytes, content_type: str) -> None:
    _s3().put_object(Bucket=_bucket(), Key=key, Body=data, ContentType=content_type)


def get(key: str) -> bytes:
    return bytes(_s3().get_object(Bucket=_bucket(), Key=key)["Body"].read())


def size_of(key: str) -> int | None:
    from botocore.exceptions import ClientError

    try:
        return int(_s3().head_object(Bucket=_bucket(), Key=key)["ContentLength"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def start_upload(key: str, content_type: str) -> str:
    return str(_s3().create_multipart_upload(Bucket=_bucket(), Key=key,
                                             ContentType=content_type)["UploadId"])


def upload_part(key: str, upload_id: str, number: int, data: bytes) -> bool:
    """Part `number` (1-based); uploading the same number again replaces it, which is
    what makes a resumed export repeat nothing. False if the upload is gone (completed
    or aborted)."""
    from botocore.exceptions import ClientError

    try:
        _s3().upload_part(Bucket=_bucket(), Key=key, UploadId=upload_id, PartNumber=number,
                          Body=data)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            return False
        raise
    return True


def copy_part(key: str, upload_id: str, number: int, source: str) -> bool:
    """Part `number` copied from the object `source` by S3 itself (UploadPartCopy: the
    bytes never pass through the function); False if the upload is gone."""
    from botocore.exceptions import ClientError

    bucket = _bucket()
    try:
        _s3().upload_part_copy(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                               CopySource={"Bucket": bucket, "Key": source})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            return False
        raise
    return True


def complete(key: str, upload_id: str) -> bool:
    """Completes the upload from its parts as S3 lists them (their ETags are not kept in
    the job). False if the upload is gone (completed by an earlier run)."""
    from botocore.exceptions import ClientError

    s3, bucket = _s3(), _bucket()
    parts: list[dict[str, Any]] = []
    marker = 0
    try:
        while True:
            page = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id,
                                 PartNumberMarker=marker)
            parts += [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                      for p in page.get("Parts", [])]
            if not page.get("IsTruncated"):
                break
            marker = int(page["NextPartNumberMarker"])
        s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                     MultipartUpload={"Parts": parts})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            return False
        raise
    return True


def remove(prefix: str, keep: tuple[str, ...] = ()) -> int:
    """Aborts the multipart uploads and deletes the objects under `prefix` (but `keep`);
    answers how many objects went."""
    s3, bucket = _s3(), _bucket()
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=prefix).get("Uploads", [])
    for upload in uploads:
        if upload["Key"].startswith(prefix):
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"],
                                      UploadId=upload["UploadId"])
    removed = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", []) if o["Key"] not in keep]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed


def link(key: str, filename: str, content_type: str, seconds: int = LINK_SECONDS) -> str:
    """A presigned GET that expires, naming the file for the browser."""
    return str(_s3().generate_presigned_url("get_object", Params={
        "Bucket": _bucket(), "Key": key, "ResponseContentType": content_type,
        "ResponseContentDisposition": f'attachment; filename="{filename}"'},
        ExpiresIn=seconds))
