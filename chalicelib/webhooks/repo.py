"""DynamoDB items of webhooks and their subscription index. The delivery side (fan-out,
worker) reads these items; this is their format.

Webhook
  PK = WEBHOOK#<id> (id "whk_..."), SK = WEBHOOK
  GSI1PK = OWNER#<owner>#WEBHOOK, GSI1SK = <createdAt>#<id>     the owner's webhooks
  GSI2PK = WEBHOOK,               GSI2SK = <createdAt>#<id>     every webhook (admin)
  id, owner, url, events (list of types; ["*"] = every type), description,
  active (bool; false = paused or disabled), status ("active" | "paused" | "disabled"),
  secretEnc (keyring.encrypt of the current "whsec_<base64 of 24..64 bytes>"),
  prevSecretEnc + prevSecretExpiresAt (epoch seconds) during a rotation's overlap,
  secretRotatedAt, headersEnc (keyring.encrypt of the JSON object of custom headers;
  absent = none), retrySchedule (list of seconds, or null = settings default),
  retryCount (attempts after the first; absent = len(retrySchedule or the default);
  when it exceeds the schedule's length the last delay repeats),
  timeoutSeconds (1..30, default 10; less near the end of a delivery run),
  readScopes (the event read scopes of whoever last set events or url: a ceiling on
  what fan-out sends it), payloadFields (dotted paths of `data` to keep,
  or null = all), sandbox (bool, from the creating principal), createdAt, updatedAt,
  disabledAt, disabledReason, failingSince (RFC 3339 of the first failure of the current
  run of failures), consecutiveFailures (int), version (int, bumped by every management
  change: optimistic locking; record_outcome does not bump it).

Subscription index (written in the same transaction as the webhook on create, update,
pause/resume, disable and delete)
  PK = SUB#<live|sandbox>#<event type or *>, SK = <webhook id>
  webhookId, owner, active (bool: false while the webhook is paused or disabled)
  Fan-out queries SUB#<ns>#<type> and SUB#<ns>#*, keeps active ones, and reads each
  webhook with get_webhook (service.py) before delivering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core import clock
from chalicelib.store import table as store

SK = "WEBHOOK"


def pk(webhook_id: str) -> str:
    return f"WEBHOOK#{webhook_id}"


def namespace(sandbox: bool) -> str:
    return "sandbox" if sandbox else "live"


def sub_pk(sandbox: bool, event_type: str) -> str:
    return f"SUB#{namespace(sandbox)}#{event_type}"


def get(webhook_id: str) -> dict[str, Any] | None:
    return store.get(pk(webhook_id), SK, consistent=True)


def sub_item(item: dict[str, Any], event_type: str, active: bool) -> dict[str, Any]:
    return {"PK": sub_pk(bool(item.get("sandbox")), event_type), "SK": item["id"],
            "webhookId": item["id"], "owner": item["owner"], "active": active}


def put_op(item: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"Item": item}
    if condition:
        body["ConditionExpression"] = condition
    return {"Put": body}


def delete_op(key_pk: str, key_sk: str) -> dict[str, Any]:
    return {"Delete": {"Key": {"PK": key_pk, "SK": key_sk}}}


def update_op(key_pk: str, key_sk: str, changes: dict[str, Any],
              remove: tuple[str, ...] = (), condition: str | None = None,
              values: dict[str, Any] | None = None,
              names: dict[str, str] | None = None) -> dict[str, Any]:
    return {"Update": store.update_request(key_pk, key_sk, changes, remove=remove,
                                           condition=condition, values=values, names=names)}


def webhook_update_op(item: dict[str, Any], changes: dict[str, Any],
                      remove: tuple[str, ...] = ()) -> dict[str, Any]:
    """Changes to a webhook we read, conditional on its version (optimistic lock)."""
    seen = int(item.get("version", 0))
    return update_op(pk(item["id"]), SK, {**changes, "version": seen + 1}, remove,
                     condition="attribute_exists(PK) AND #ver = :seen", values={":seen": seen},
                     names={"#ver": "version"})


def list_webhooks(owner: str | None, cursor: str | None, limit: int,
                  item_filter: Callable[[dict[str, Any]], bool] | None = None
                  ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page("WEBHOOK", owner, cursor=cursor, limit=limit,
                            item_filter=item_filter)


def count_failure(webhook_id: str) -> dict[str, Any] | None:
    """consecutiveFailures + 1; failingSince set if not yet. The new item, or None."""
    from botocore.exceptions import ClientError

    try:
        resp = store.table().update_item(
            Key={"PK": pk(webhook_id), "SK": SK},
            UpdateExpression="ADD consecutiveFailures :one "
                             "SET failingSince = if_not_exists(failingSince, :now)",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":one": 1, ":now": clock.iso()},
            ReturnValues="ALL_NEW")
    except ClientError as exc:
        if store.is_condition_failure(exc):
            return None
        raise
    return store.plain(resp["Attributes"])


def clear_failures(webhook_id: str) -> None:
    """After a success: the failure run ends (one write only when there was one)."""
    store.update(pk(webhook_id), SK, {"consecutiveFailures": 0}, remove=("failingSince",),
                 condition="attribute_exists(PK) AND (consecutiveFailures > :zero "
                           "OR attribute_exists(failingSince))",
                 values={":zero": 0})
