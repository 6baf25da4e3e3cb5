"""DynamoDB items of webhooks, their subscription index and their health markers: the
only module that knows their keys. The delivery side (fan-out, the delivery engine) reads
these items; this is their format.

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
  Fan-out reads `subscribers(sandbox, type)` and `subscribers(sandbox, "*")`, keeps
  active ones, and reads each webhook before delivering.

Disable marker (endpoint_health.py): a warned webhook's announced disable time
  PK = WATCH#DISABLE, SK = <disableAt>#<webhook id>; webhookId
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.core import clock
from chalicelib.core.settings import get_settings
from chalicelib.store import table as store

SK = "WEBHOOK"
WATCH_PK = "WATCH#DISABLE"


def pk(webhook_id: str) -> str:
    return f"WEBHOOK#{webhook_id}"


def key(webhook_id: str) -> tuple[str, str]:
    return pk(webhook_id), SK


def namespace(sandbox: bool) -> str:
    return "sandbox" if sandbox else "live"


def sub_pk(sandbox: bool, event_type: str) -> str:
    return f"SUB#{namespace(sandbox)}#{event_type}"


# -- what an item says -------------------------------------------------------------

def is_paused(hook: dict[str, Any]) -> bool:
    return hook.get("status") == "paused" or hook.get("active") is False


def is_disabled(hook: dict[str, Any]) -> bool:
    return hook.get("status") == "disabled"


def retry_schedule(hook: dict[str, Any]) -> list[int]:
    """Seconds before each retry: the webhook's own, else the platform default."""
    schedule = hook.get("retrySchedule")
    return [int(s) for s in schedule] if schedule else list(
        get_settings().webhook_retry_schedule)


def retry_count(hook: dict[str, Any]) -> int:
    """Attempts after the first."""
    if hook.get("retryCount") is not None:
        return int(hook["retryCount"])
    return len(retry_schedule(hook))


# -- reads -------------------------------------------------------------------------

def get(webhook_id: str) -> dict[str, Any] | None:
    return store.get(pk(webhook_id), SK, consistent=True)


def list_webhooks(owner: str | None, cursor: str | None, limit: int,
                  item_filter: Callable[[dict[str, Any]], bool] | None = None
                  ) -> tuple[list[dict[str, Any]], str | None]:
    return store.owned_page("WEBHOOK", owner, cursor=cursor, limit=limit,
                            item_filter=item_filter)


def subscribers(sandbox: bool, event_type: str) -> list[dict[str, Any]]:
    """The subscription items of one event type (or "*") in one namespace."""
    return list(store.query_all(sub_pk(sandbox, event_type), forward=True))


def due_watches(limit: int = 100) -> list[dict[str, Any]]:
    """Disable markers whose time has come."""
    due, _ = store.query_page(WATCH_PK, limit=limit, forward=True,
                              sk_between=("0", clock.iso() + "~"))
    return due


# -- writes (transaction ops; the service commits them with their audit entry) -----

def index_keys(webhook_id: str, owner: str, stamp: str) -> dict[str, str]:
    """The keys of a new webhook's item (stamp: its createdAt)."""
    return {"PK": pk(webhook_id), "SK": SK,
            "GSI1PK": f"OWNER#{owner}#WEBHOOK", "GSI1SK": f"{stamp}#{webhook_id}",
            "GSI2PK": "WEBHOOK", "GSI2SK": f"{stamp}#{webhook_id}"}


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


def delete_webhook_op(webhook_id: str) -> dict[str, Any]:
    return {"Delete": {"Key": {"PK": pk(webhook_id), "SK": SK},
                       "ConditionExpression": "attribute_exists(PK)"}}


def sub_delete_op(sandbox: bool, event_type: str, webhook_id: str) -> dict[str, Any]:
    return delete_op(sub_pk(sandbox, event_type), webhook_id)


def update_op(webhook_id: str, changes: dict[str, Any],
              remove: tuple[str, ...] = (), condition: str | None = None,
              values: dict[str, Any] | None = None,
              names: dict[str, str] | None = None) -> dict[str, Any]:
    return {"Update": store.update_request(pk(webhook_id), SK, changes, remove=remove,
                                           condition=condition, values=values, names=names)}


def webhook_update_op(item: dict[str, Any], changes: dict[str, Any],
                      remove: tuple[str, ...] = ()) -> dict[str, Any]:
    """Changes to a webhook we read, conditional on its version (optimistic lock)."""
    seen = int(item.get("version", 0))
    return update_op(item["id"], {**changes, "version": seen + 1}, remove,
                     condition="attribute_exists(PK) AND #ver = :seen", values={":seen": seen},
                     names={"#ver": "version"})


def watch_op(webhook_id: str, disable_at: float) -> dict[str, Any]:
    """The marker that keeps a warning's promised disable time (endpoint_health.py)."""
    return put_op({"PK": WATCH_PK, "SK": f"{clock.iso(disable_at)}#{webhook_id}",
                   "webhookId": webhook_id})


def delete_watch(marker: dict[str, Any]) -> None:
    store.delete(str(marker["PK"]), str(marker["SK"]))


# -- the failure run (outside the version lock: not a management change) -----------

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
                 values={":zero": 0}, returns=False)
