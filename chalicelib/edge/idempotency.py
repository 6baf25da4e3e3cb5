"""Idempotency-Key for POSTs (IETF httpapi-idempotency-key draft semantics).

Not Powertools' utility: it deletes its record when the handler raises, and it has no
notion of "same key, different body" (422) versus "still running" (409). Records:
  PK = IDEM#<principal or ip>#<sha256(key)>, SK = IDEM, ttl = 24 h.
A first request claims the key with a conditional put; completion stores the response;
a 5xx releases the key so the client may retry. Stored bodies are encrypted (AES-GCM under
the data key): a replayed create must answer the same secret, which may not sit in plain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from chalice import Response

from chalicelib.auth import keyring
from chalicelib.core import clock
from chalicelib.core.errors import Conflict, Unprocessable, ValidationFailed
from chalicelib.core.settings import get_settings
from chalicelib.http.context import RequestContext
from chalicelib.store import table as store

LOCK_SECONDS = 60
# A replay answers as the original did, down to no-store on answers that hold secrets.
REPLAYED_HEADERS = {"content-type", "location", "cache-control", "pragma"}


def _record_key(ctx: RequestContext, key: str) -> str:
    owner = ctx.principal.describe() if ctx.principal else f"ip:{ctx.ip}"
    return f"IDEM#{owner}#{hashlib.sha256(key.encode()).hexdigest()}"


def fingerprint(ctx: RequestContext) -> str:
    """What makes two requests "the same": method, path with its query string (as sent),
    media type and body."""
    head = f"{ctx.method} {ctx.path_with_query}\n{ctx.header('content-type').strip()}\n"
    digest = hashlib.sha256(head.encode())
    digest.update(ctx.raw_body or b"")
    return digest.hexdigest()


def run(ctx: RequestContext, key: str, call: Callable[[], Response]) -> Response:
    from botocore.exceptions import ClientError

    if not key or len(key) > 255 or not key.isprintable():
        raise ValidationFailed("Idempotency-Key must be 1 to 255 printable characters.")
    pk = _record_key(ctx, key)
    now = clock.now_int()
    body_hash = fingerprint(ctx)
    try:
        store.table().put_item(
            Item={"PK": pk, "SK": "IDEM", "state": "running", "bodyHash": body_hash,
                  "lockUntil": now + LOCK_SECONDS, "ttl": now + get_settings().idempotency_ttl},
            ConditionExpression="attribute_not_exists(PK) OR #ttl < :now OR "
                                "(#st = :running AND lockUntil < :now)",
            ExpressionAttributeNames={"#ttl": "ttl", "#st": "state"},
            ExpressionAttributeValues={":now": now, ":running": "running"})
    except ClientError as exc:
        if not store.is_condition_failure(exc):
            raise
        found = store.get(pk, "IDEM", consistent=True)
        if found is None:
            raise Conflict("The request with this Idempotency-Key is being retried; "
                           "try again.") from exc
        if found.get("bodyHash") != body_hash:
            raise Unprocessable("This Idempotency-Key was used with a different request "
                                "(path, query, media type or body).") from exc
        if found.get("state") == "running":
            raise Conflict("A request with this Idempotency-Key is still in progress.",
                           headers={"Retry-After": "1"}) from exc
        headers = dict(json.loads(found.get("headers", "{}")))
        headers["Idempotent-Replayed"] = "true"
        return Response(body=keyring.decrypt(str(found["body"])),
                        status_code=int(found["status"]), headers=headers)
    response = None
    try:
        response = call()
    finally:
        if response is None or response.status_code >= 500:
            store.delete(pk, "IDEM")
        else:
            body = response.body if isinstance(response.body, str) else json.dumps(response.body)
            kept = {k: v for k, v in response.headers.items() if k.lower() in REPLAYED_HEADERS}
            store.update(pk, "IDEM", {"state": "done", "status": response.status_code,
                                      "body": keyring.encrypt(body),
                                      "headers": json.dumps(kept)})
    return response
