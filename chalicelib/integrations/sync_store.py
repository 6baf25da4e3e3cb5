"""A connection's sync items, in its partition: the only module that spells their keys.

  PK = INTEGRATION#<id>, SK = SYNC
      jobId (the latest run, or "claim:<token>" while one is being started), claimedAt,
      version (bumped by each claim: two starts cannot both win),
      markAt, markRun, markConfig (the high-water mark of incremental pulls: the start
      of the latest run completed without failed records, its id, and its config's
      fingerprint; kept by claims, moved only by such a run)
  PK = INTEGRATION#<id>, SK = SYNCLOG#<jobId>#<page:06d>#<index:05d>
      runId, recordKey, action (created | updated | skipped | failed), reason, fields,
      at, ttl (LOG_DAYS)

A log entry's key is its page and place in the page, so a page applied again after a
worker died writes the same entries again, not new ones.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import Conflict
from chalicelib.store import table as store

SK = "SYNC"
LOG = "SYNCLOG#"
LOG_DAYS = 30
CLAIM = "claim:"


def _pk(connection_id: str) -> str:
    return f"INTEGRATION#{connection_id}"


def latest(connection_id: str) -> dict[str, Any] | None:
    return store.get(_pk(connection_id), SK, consistent=True)


def claim(connection_id: str, seen: dict[str, Any] | None, token: str) -> None:
    """Marks a run as starting, on condition that nobody claimed since `seen` was read
    (409 otherwise)."""
    from botocore.exceptions import ClientError

    version = int(seen["version"]) if seen else 0
    values: dict[str, Any] = {":j": CLAIM + token, ":at": clock.now_int(),
                              ":next": version + 1}
    if seen is not None:
        values[":v"] = version
    try:
        # An update, not a put: the mark (markAt...) stays.
        store.table().update_item(
            Key={"PK": _pk(connection_id), "SK": SK},
            UpdateExpression="SET jobId = :j, claimedAt = :at, version = :next",
            ConditionExpression=("attribute_not_exists(PK)" if seen is None
                                 else "version = :v"),
            ExpressionAttributeValues=values)
    except ClientError as exc:
        if store.is_condition_failure(exc):
            raise Conflict("A sync of this integration is already starting.") from None
        raise


def settle(connection_id: str, token: str, job_id: str | None,
           previous: str | None = None) -> None:
    """The claim becomes the run's job. None: the job was not made, the claim is
    removed and the latest run is `previous` again; the item stays, with its mark (and
    version)."""
    from botocore.exceptions import ClientError

    key = {"PK": _pk(connection_id), "SK": SK}
    try:
        if job_id is None:
            values = {":t": CLAIM + token}
            update = "REMOVE jobId, claimedAt"
            if previous and not previous.startswith(CLAIM):
                values[":p"] = previous
                update = "SET jobId = :p REMOVE claimedAt"
            store.table().update_item(Key=key, UpdateExpression=update,
                                      ConditionExpression="jobId = :t",
                                      ExpressionAttributeValues=values)
        else:
            store.table().update_item(
                Key=key, UpdateExpression="SET jobId = :j",
                ConditionExpression="jobId = :t",
                ExpressionAttributeValues={":t": CLAIM + token, ":j": job_id})
    except ClientError as exc:
        if not store.is_condition_failure(exc):
            raise


def mark(latest: dict[str, Any] | None, fingerprint: str) -> str | None:
    """The start (ISO) of the latest completed run, if it ran with this config."""
    if not latest or not latest.get("markAt") or latest.get("markConfig") != fingerprint:
        return None
    return str(latest["markAt"])


def move_mark(connection_id: str, run_id: str, started_at: str, fingerprint: str) -> None:
    """A run completed: its start becomes the mark (never moved back; a deleted
    connection's item is not made again)."""
    from botocore.exceptions import ClientError

    try:
        store.table().update_item(
            Key={"PK": _pk(connection_id), "SK": SK},
            UpdateExpression="SET markAt = :m, markRun = :r, markConfig = :c",
            ConditionExpression="attribute_exists(PK) AND (attribute_not_exists(markAt) "
                                "OR markAt < :m)",
            ExpressionAttributeValues={":m": started_at, ":r": run_id, ":c": fingerprint})
    except ClientError as exc:
        if not store.is_condition_failure(exc):
            raise


def forget(connection_id: str) -> None:
    store.delete(_pk(connection_id), SK)


def write_log(connection_id: str, job_id: str, page: int,
              entries: list[tuple[int, dict[str, Any]]]) -> None:
    """The page's entries (index in the page, entry), 25 to a BatchWriteItem."""
    if not entries:
        return
    ttl = clock.now_int() + LOG_DAYS * 86400
    with store.table().batch_writer(overwrite_by_pkeys=["PK", "SK"]) as batch:
        for index, entry in entries:
            batch.put_item(Item={"PK": _pk(connection_id),
                                 "SK": f"{LOG}{job_id}#{page:06d}#{index:05d}",
                                 "runId": job_id, "ttl": ttl, **entry})


def log_page(connection_id: str, job_id: str, *, cursor: str | None, limit: int,
             action: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One run's entries in the order they happened."""
    keep = None if action is None else (lambda item: item.get("action") == action)
    items, following = store.query_page(_pk(connection_id), sk_prefix=f"{LOG}{job_id}#",
                                        forward=True, cursor=cursor, limit=limit,
                                        item_filter=keep)
    fields = ("recordKey", "action", "reason", "fields", "at")
    return [{k: i[k] for k in fields if k in i} for i in items], following
