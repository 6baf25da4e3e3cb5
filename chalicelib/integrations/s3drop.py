"""The S3 file drop (type `s3_drop`): each pushed record becomes one JSON object,
s3://<bucket>/<prefix>/<record id>.json.

It writes with the platform's own role, so a caller must not name just any bucket (that
would let anyone write wherever the platform may: another tenant's drop, a bucket of the
platform's own). Only buckets the operator lists in GATEHOUSE_INTEGRATION_S3_BUCKETS are
accepted: "bucket" (any prefix) or "bucket/prefix/", where "{owner}" in the prefix stands
for the connection's owner, giving each owner a part of a shared bucket. The platform's
own files bucket is not a destination: its owner could not read the objects back, and
they would sit beside other callers' exports with no expiry. The list is checked again
at every push and test, so removing a bucket from it stops its drops.

Objects are never overwritten (PutObject with If-None-Match: *): a record pushed twice
(a retried delivery) lands once, and no connection can replace another's files.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from chalicelib.core import aws, ids
from chalicelib.core.errors import Unprocessable
from chalicelib.core.settings import get_settings
from chalicelib.integrations.connector import (
    PUSH,
    Connection,
    ConnectorType,
    TestResult,
    register,
)
from chalicelib.integrations.push_config import PushEvents
from chalicelib.store import table as store

# S3's rules for bucket names (no upper case, no IP-address form, no "..").
BUCKET_PATTERN = r"^(?!xn--)(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
# S3's "safe characters" for keys, in "/"-separated segments; no "." or ".." segment.
PREFIX_PATTERN = r"^(?:(?!\.{1,2}(?:/|$))[A-Za-z0-9!_.*'()-]+(?:/|$))*$"
_RECORD_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$")


class S3PushConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    events: PushEvents


class S3DropConfig(BaseModel):
    # python-re: the patterns look ahead (ECMA-262 patterns in the schema do too).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              defer_build=True, regex_engine="python-re")

    bucket: str = Field(min_length=3, max_length=63, pattern=BUCKET_PATTERN, description=(
        "One of the buckets the operator allows (the catalog's `allowedBuckets`)."))
    prefix: str = Field("", max_length=512, pattern=PREFIX_PATTERN, description=(
        "Key prefix, without leading slash (\"orders/2026\"); objects are "
        "<prefix>/<record id>.json, events <prefix>/events/<type>/<event id>.json."))
    push: S3PushConfig | None = Field(None, description=(
        "Events dropped as they happen; absent: none."))


def _norm(prefix: str) -> str:
    """"a/b" and "a/b/" as "a/b/"; the empty prefix as ""."""
    text = prefix.strip("/")
    return f"{text}/" if text else ""


def allowed_prefixes(bucket: str, owner: str) -> list[str] | None:
    """The prefixes the operator allows in that bucket for that owner ("" = all of it),
    or None if the bucket is not listed."""
    found: list[str] | None = None
    for entry in get_settings().integration_s3_buckets:
        name, _, prefix = entry.strip().partition("/")
        if name == bucket:
            found = (found or []) + [_norm(prefix.replace("{owner}", owner))]
    return found


class S3Drop(ConnectorType):
    type = "s3_drop"
    title = "S3 file drop"
    description = ("Writes each pushed record as a JSON object to s3://bucket/prefix/"
                   "<id>.json (the event's or record's id; never overwriting), and with "
                   "push.events each subscribed event as prefix/events/<type>/<id>.json. "
                   "Buckets: those the operator allows.")
    directions: ClassVar[frozenset[str]] = frozenset({PUSH})
    config_model = S3DropConfig

    def catalog_entry(self) -> dict[str, Any]:
        return {**super().catalog_entry(),
                "allowedBuckets": list(get_settings().integration_s3_buckets)}

    def check(self, config: dict[str, Any], owner: str) -> None:
        cfg = S3DropConfig.model_validate(config)
        allowed = allowed_prefixes(cfg.bucket, owner)
        if allowed is None:
            raise Unprocessable("This bucket is not one the platform may write to.", details=[
                {"field": "config.bucket",
                 "message": "Not among the buckets the operator allows (see the catalog's "
                            "allowedBuckets)."}])
        if not any(_norm(cfg.prefix).startswith(p) for p in allowed if p) and "" not in allowed:
            raise Unprocessable("This prefix is outside what the platform may write to.",
                                details=[{"field": "config.prefix",
                                          "message": "Must start with one of: "
                                                     + ", ".join(sorted(allowed))}])

    def key(self, connection: Connection, record: dict[str, Any]) -> str:
        raw = str(record.get("id") or record.get("eventId") or "")
        name = raw if _RECORD_ID.match(raw) else ids.new_id("rec")
        return f"{_norm(str(connection.config.get('prefix', '')))}{name}.json"

    def push(self, connection: Connection, record: dict[str, Any]) -> dict[str, Any]:
        return self._put(connection, self.key(connection, record), record)

    def push_event(self, connection: Connection, event: dict[str, Any]) -> dict[str, Any]:
        """The event ({id, event, timestamp, data}) as <prefix>/events/<type>/<id>.json."""
        kind, name = str(event.get("event", "")), str(event.get("id", ""))
        if not (_RECORD_ID.match(kind) and _RECORD_ID.match(name)):
            raise Unprocessable("Not an event: no type or id to name its object by.")
        prefix = _norm(str(connection.config.get("prefix", "")))
        return self._put(connection, f"{prefix}events/{kind}/{name}.json", event)

    def _put(self, connection: Connection, key: str, record: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.check(connection.config, connection.owner)  # the operator's list may change
        bucket = str(connection.config["bucket"])
        body = json.dumps(store.plain(record), separators=(",", ":"), default=str,
                          ensure_ascii=False).encode()
        try:
            aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body,
                                        ContentType="application/json", IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return {"bucket": bucket, "key": key, "duplicate": True}
            raise
        return {"bucket": bucket, "key": key, "duplicate": False}

    def test(self, connection: Connection) -> TestResult:
        from botocore.exceptions import ClientError

        try:
            self.check(connection.config, connection.owner)
        except Unprocessable as exc:
            return TestResult(False, exc.message)
        bucket = str(connection.config["bucket"])
        try:
            aws.client("s3").head_bucket(Bucket=bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            message = {"404": "The bucket does not exist.", "NoSuchBucket":
                       "The bucket does not exist.", "403":
                       "The platform's role may not use this bucket."}.get(
                code, "The bucket could not be reached.")
            return TestResult(False, message, {"code": code})
        return TestResult(True, "The bucket is reachable.", {"bucket": bucket})


register(S3Drop())
