"""Webhook management: create, list, get, update (pause/resume), delete, test, rotate the
secret; and the changes the delivery side makes (record_outcome, warn_disabling, disable).

A webhook, its subscription index items (repo.py) and the change's audit entry are
written in one transaction, so fan-out never sees a webhook's subscriptions disagree with
it and no change goes unaudited. Secrets and custom headers are stored encrypted
(keyring); the secret is shown only at creation and rotation, header values never again.
Another owner's webhook is simply not there (404); an admin sees all.

Subscribing needs the read scope of each event type (subscriptions.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from typing import Any

from chalicelib.auth import keyring
from chalicelib.core import clock, ids
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.principal import Principal
from chalicelib.events import audit, outbox
from chalicelib.store import table as store
from chalicelib.store.optimistic import LostRace, retry
from chalicelib.webhooks import repo, ssrf
from chalicelib.webhooks.models import (
    DEFAULT_TIMEOUT,
    SECRET_PREFIX,
    CreateWebhook,
    ListWebhooks,
    RotateSecret,
    UpdateWebhook,
)
from chalicelib.webhooks.subscriptions import check_subscription, read_scopes

WEBHOOK_ID_RE = re.compile(r"^whk_[0-9a-hjkmnp-tv-z]{26}$")
REDACTED = "********"
_ATTEMPTS = 3  # optimistic-lock retries when a concurrent change wins
_CHANGED = "The webhook changed meanwhile; try again."


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode()


# -- views -------------------------------------------------------------------------

def custom_headers(item: dict[str, Any]) -> dict[str, str]:
    """The webhook's custom headers, decrypted (for the delivery request only)."""
    if not item.get("headersEnc"):
        return {}
    return dict(json.loads(keyring.decrypt(str(item["headersEnc"]))))


def secrets_for_signing(item: dict[str, Any]) -> list[str]:
    """The current secret, then the previous one while its overlap lasts."""
    out = [keyring.decrypt(str(item["secretEnc"]))]
    if item.get("prevSecretEnc") and float(item.get("prevSecretExpiresAt", 0)) > clock.now():
        out.append(keyring.decrypt(str(item["prevSecretEnc"])))
    return out


def public_webhook(item: dict[str, Any]) -> dict[str, Any]:
    """What its owner sees: no secret, header names with their values redacted."""
    prev_until = float(item.get("prevSecretExpiresAt", 0))
    return {
        "id": item["id"], "url": item["url"], "events": item["events"],
        "description": item.get("description"), "active": bool(item.get("active")),
        "status": item.get("status", "active"),
        "headers": {name: REDACTED for name in custom_headers(item)},
        "retryCount": repo.retry_count(item),
        "retrySchedule": item.get("retrySchedule"),
        "effectiveRetrySchedule": repo.retry_schedule(item),
        "timeoutSeconds": int(item.get("timeoutSeconds", DEFAULT_TIMEOUT)),
        "payloadFields": item.get("payloadFields"), "sandbox": bool(item.get("sandbox")),
        "owner": item["owner"], "createdAt": item["createdAt"],
        "updatedAt": item.get("updatedAt"), "disabledAt": item.get("disabledAt"),
        "disabledReason": item.get("disabledReason"),
        "failingSince": item.get("failingSince"),
        "consecutiveFailures": int(item.get("consecutiveFailures", 0)),
        "secretRotatedAt": item.get("secretRotatedAt"),
        "previousSecretExpiresAt": (clock.iso(prev_until) if item.get("prevSecretEnc")
                                    and prev_until > clock.now() else None),
    }


def _audited(item: dict[str, Any]) -> dict[str, Any]:
    """Never a secret or a header value: header names only."""
    fields = ("url", "events", "description", "active", "status", "retryCount",
              "retrySchedule", "timeoutSeconds", "payloadFields", "sandbox")
    out: dict[str, Any] = {k: item[k] for k in fields if k in item}
    if "headersEnc" in item:
        out["headerNames"] = sorted(custom_headers(item)) if item["headersEnc"] else []
    return out


# -- checks ------------------------------------------------------------------------

def visible(actor: Principal, webhook_id: str) -> dict[str, Any]:
    item = repo.get(webhook_id) if WEBHOOK_ID_RE.match(webhook_id) else None
    if (item is None or not actor.can_see(str(item.get("owner", "")))
            or (actor.sandbox and not item.get("sandbox"))):
        # A sandbox key sees only sandbox webhooks, as it sees only sandbox data.
        raise NotFound("No such webhook.")
    return item


def _sub_ops(item: dict[str, Any], old_events: list[str]) -> list[dict[str, Any]]:
    """Subscription items for the item as it will be: removed types deleted, current
    ones (re)written with the webhook's active flag."""
    sandbox = bool(item.get("sandbox"))
    ops = [repo.sub_delete_op(sandbox, e, item["id"])
           for e in old_events if e not in item["events"]]
    ops += [repo.put_op(repo.sub_item(item, e, bool(item["active"]))) for e in item["events"]]
    return ops


def _transact(ops: list[dict[str, Any]], events: list[dict[str, Any]] | None = None) -> None:
    """Commits, or raises LostRace when a condition failed (a concurrent change won)."""
    try:
        outbox.transact(ops, events or [])
    except store.TransactionConflict as exc:
        raise LostRace from exc


# -- management --------------------------------------------------------------------

def create(actor: Principal, body: CreateWebhook) -> dict[str, Any]:
    """Answers the webhook with its `secret`, shown this once."""
    check_subscription(actor, body.events)
    ssrf.check_registration(body.url)
    secret = body.secret or new_secret()
    webhook_id = ids.new_id("whk")
    stamp = clock.iso()
    owner = actor.owner
    item: dict[str, Any] = {
        **repo.index_keys(webhook_id, owner, stamp),
        "id": webhook_id, "owner": owner, "url": body.url, "events": body.events,
        "description": body.description, "active": body.active,
        "status": "active" if body.active else "paused",
        "secretEnc": keyring.encrypt(secret),
        "retrySchedule": body.retry_schedule, "timeoutSeconds": body.timeout_seconds,
        "payloadFields": body.payload_fields, "sandbox": actor.sandbox,
        "createdAt": stamp, "updatedAt": stamp, "consecutiveFailures": 0, "version": 1,
        "createdBy": actor.describe(), "readScopes": read_scopes(actor),
    }
    if body.headers:
        item["headersEnc"] = keyring.encrypt(json.dumps(body.headers))
    if body.retry_count is not None:
        item["retryCount"] = body.retry_count
    elif body.retry_schedule is not None:
        item["retryCount"] = len(body.retry_schedule)
    ops = [repo.put_op(item, "attribute_not_exists(PK)"), *_sub_ops(item, []),
           audit.put_op(audit.entry(actor, "webhook.create", "webhook", webhook_id,
                                    _audited(item), owner=owner))]
    try:
        _transact(ops)
    except LostRace:
        raise Conflict("A webhook with this id already exists; try again.") from None
    return {**public_webhook(item), "secret": secret}


def list_webhooks(actor: Principal, query: ListWebhooks
                  ) -> tuple[list[dict[str, Any]], str | None]:
    statuses = set(query.status.split(",")) if query.status else None
    event = query.event

    def wanted(item: dict[str, Any]) -> bool:
        if actor.sandbox and not item.get("sandbox"):
            return False
        if statuses is not None and item.get("status") not in statuses:
            return False
        return event is None or event in item.get("events", []) or "*" in item.get(
            "events", [])

    items, cursor = repo.list_webhooks(None if actor.is_admin else actor.owner,
                                       query.cursor, query.per_page,
                                       wanted if (statuses or event or actor.sandbox) else None)
    return [public_webhook(i) for i in items], cursor


def get(actor: Principal, webhook_id: str) -> dict[str, Any]:
    return public_webhook(visible(actor, webhook_id))


def _changes(item: dict[str, Any], body: UpdateWebhook) -> tuple[dict[str, Any],
                                                                 tuple[str, ...]]:
    given = body.model_fields_set
    changes: dict[str, Any] = {}
    remove: list[str] = []
    if body.url is not None:
        changes["url"] = body.url
    if body.events is not None:
        changes["events"] = body.events
    if "description" in given:
        changes["description"] = body.description
    if "headers" in given:
        if body.headers:
            changes["headersEnc"] = keyring.encrypt(json.dumps(body.headers))
        else:
            remove.append("headersEnc")
    if "retry_schedule" in given:
        changes["retrySchedule"] = body.retry_schedule
    if "retry_count" in given:
        if body.retry_count is None:
            remove.append("retryCount")
        else:
            changes["retryCount"] = body.retry_count
    if "retry_schedule" in given and "retry_count" not in given:
        # The count follows a new schedule (null: the default's).
        if body.retry_schedule:
            changes["retryCount"] = len(body.retry_schedule)
        else:
            remove.append("retryCount")
    if body.timeout_seconds is not None:
        changes["timeoutSeconds"] = body.timeout_seconds
    if "payload_fields" in given:
        changes["payloadFields"] = body.payload_fields
    if body.active is False and item.get("status") == "active":
        changes.update({"active": False, "status": "paused"})
    elif body.active is True and item.get("status") != "active":
        changes.update({"active": True, "status": "active", "consecutiveFailures": 0})
        remove += ["disabledAt", "disabledReason", "failingSince", "disablingWarnedAt"]
    return changes, tuple(remove)


def update(actor: Principal, webhook_id: str, body: UpdateWebhook) -> dict[str, Any]:
    if body.url is not None:
        ssrf.check_registration(body.url)

    def attempt() -> dict[str, Any]:
        item = visible(actor, webhook_id)
        changes, remove = _changes(item, body)
        if body.events is not None or body.url is not None:
            # Choosing what is sent, or where to, is subscribing again.
            check_subscription(actor, list(body.events or item["events"]))
            changes["readScopes"] = read_scopes(actor)
        if not changes and not remove:
            return public_webhook(item)
        changes["updatedAt"] = clock.iso()
        after = {k: v for k, v in {**item, **changes}.items() if k not in remove}
        ops = [repo.webhook_update_op(item, changes, remove)]
        if "events" in changes or "active" in changes:
            ops += _sub_ops(after, list(item["events"]))
        noted = _audited({k: v for k, v in changes.items() if k != "headersEnc"})
        if "headers" in body.model_fields_set:
            noted["headerNames"] = sorted(body.headers or {})
        ops.append(audit.put_op(audit.entry(actor, "webhook.update", "webhook", webhook_id,
                                            noted, owner=str(item["owner"]))))
        _transact(ops)
        return public_webhook({**after, "version": int(item.get("version", 0)) + 1})

    return retry(attempt, attempts=_ATTEMPTS, conflict=_CHANGED)


def delete(actor: Principal, webhook_id: str) -> None:
    """The webhook and its subscriptions go together; pending deliveries find it gone."""
    item = visible(actor, webhook_id)
    sandbox = bool(item.get("sandbox"))
    ops = [repo.delete_webhook_op(webhook_id),
           *(repo.sub_delete_op(sandbox, e, webhook_id) for e in item["events"])]
    ops.append(audit.put_op(audit.entry(actor, "webhook.delete", "webhook", webhook_id,
                                        {"url": item["url"]}, owner=str(item["owner"]))))
    try:
        _transact(ops)
    except LostRace:
        raise NotFound("No such webhook.") from None


def send_test(actor: Principal, webhook_id: str) -> dict[str, Any]:
    """A webhook.test event for this webhook only (sent even while paused); the event's
    outbox item and the audit entry in one transaction."""
    item = visible(actor, webhook_id)
    event = outbox.new_event(
        "webhook.test", {"webhookId": webhook_id,
                         "message": "This is a test event from Gatehouse.",
                         "requestedBy": actor.describe()},
        owner=str(item["owner"]), sandbox=bool(item.get("sandbox")), webhook_id=webhook_id)
    outbox.transact([audit.put_op(audit.entry(actor, "webhook.test", "webhook", webhook_id,
                                              {"eventId": event["id"]},
                                              owner=str(item["owner"])))], [event])
    return {"eventId": event["id"], "webhookId": webhook_id, "event": "webhook.test",
            "timestamp": event["timestamp"]}


def rotate_secret(actor: Principal, webhook_id: str, body: RotateSecret) -> dict[str, Any]:
    """A new secret; the previous one keeps signing (both signatures are sent) for
    `overlapHours`, 0 ends it at once. Answers the webhook with its new `secret`."""
    secret = body.secret or new_secret()

    def attempt() -> dict[str, Any]:
        item = visible(actor, webhook_id)
        now = clock.now()
        changes: dict[str, Any] = {"secretEnc": keyring.encrypt(secret),
                                   "secretRotatedAt": clock.iso(now), "updatedAt": clock.iso(now)}
        remove: tuple[str, ...] = ()
        if body.overlap_hours > 0:
            changes.update({"prevSecretEnc": item["secretEnc"],
                            "prevSecretExpiresAt": int(now) + body.overlap_hours * 3600})
        else:
            remove = ("prevSecretEnc", "prevSecretExpiresAt")
        noted = audit.entry(actor, "webhook.rotate_secret", "webhook", webhook_id,
                            {"overlapHours": body.overlap_hours}, owner=str(item["owner"]))
        _transact([repo.webhook_update_op(item, changes, remove), audit.put_op(noted)])
        after = {k: v for k, v in {**item, **changes}.items() if k not in remove}
        return {**public_webhook(after), "secret": secret}

    return retry(attempt, attempts=_ATTEMPTS, conflict=_CHANGED)


# -- for the delivery side ---------------------------------------------------------

def get_webhook(webhook_id: str) -> dict[str, Any] | None:
    """The raw item (see repo.py), or None if there is no such webhook."""
    if not WEBHOOK_ID_RE.match(webhook_id):
        return None
    return repo.get(webhook_id)


def record_outcome(webhook_id: str, ok: bool, seen: dict[str, Any] | None = None
                   ) -> dict[str, Any] | None:
    """After each final attempt outcome: a success ends the run of failures, a failure
    counts (consecutiveFailures + 1, failingSince set at the first). Answers the item
    after a failure (to decide on warning or disabling), None after a success. `seen`:
    the webhook as read before the attempts; a success writes nothing when it showed no
    run of failures (one a concurrent batch began since ends at the next success)."""
    if ok:
        if seen is None or seen.get("failingSince") or int(seen.get("consecutiveFailures")
                                                            or 0):
            repo.clear_failures(webhook_id)
        return None
    return repo.count_failure(webhook_id)


def warn_disabling(webhook_id: str, disable_at: float) -> bool:
    """Emit webhook.disabling to the owner once per run of failures. True if sent now."""

    def attempt() -> bool:
        item = get_webhook(webhook_id)
        if item is None or item.get("status") != "active" or item.get("disablingWarnedAt"):
            return False
        event = outbox.new_event("webhook.disabling", {
            "webhookId": webhook_id, "url": item["url"],
            "failingSince": item.get("failingSince") or clock.iso(),
            "consecutiveFailures": int(item.get("consecutiveFailures", 0)),
            "disableAt": clock.iso(disable_at)},
            owner=str(item["owner"]), sandbox=bool(item.get("sandbox")))
        op = repo.update_op(webhook_id, {"disablingWarnedAt": clock.iso()},
                            condition="attribute_exists(PK) AND attribute_not_exists("
                                      "disablingWarnedAt) AND #st = :active",
                            values={":active": "active"}, names={"#st": "status"})
        # The promised disable time is kept even if no delivery comes by then: the
        # minute sweep (endpoint_health.py) reads this marker.
        noted = audit.entry(None, "webhook.disabling", "webhook", webhook_id,
                            {"disableAt": clock.iso(disable_at)}, owner=str(item["owner"]))
        _transact([op, repo.watch_op(webhook_id, disable_at), audit.put_op(noted)], [event])
        return True

    with contextlib.suppress(Conflict):  # lost every race: the next outcome decides again
        return retry(attempt, attempts=_ATTEMPTS)
    return False


def disable(webhook_id: str, reason: str) -> bool:
    """status=disabled, active=false, subscriptions inactive, a webhook.disabled event
    to the owner and the audit entry, in one transaction. True if it disabled it now
    (False if it was gone or already disabled)."""

    def attempt() -> bool:
        item = get_webhook(webhook_id)
        if item is None or item.get("status") == "disabled":
            return False
        stamp = clock.iso()
        changes = {"status": "disabled", "active": False, "disabledAt": stamp,
                   "disabledReason": reason[:500], "updatedAt": stamp}
        after = {**item, **changes}
        event = outbox.new_event("webhook.disabled", {
            "webhookId": webhook_id, "url": item["url"], "reason": reason[:500],
            "disabledAt": stamp, "failingSince": item.get("failingSince"),
            "consecutiveFailures": int(item.get("consecutiveFailures", 0))},
            owner=str(item["owner"]), sandbox=bool(item.get("sandbox")))
        ops = [repo.webhook_update_op(item, changes), *_sub_ops(after, list(item["events"])),
               audit.put_op(audit.entry(None, "webhook.disable", "webhook", webhook_id,
                                        {"reason": reason}, owner=str(item["owner"])))]
        _transact(ops, [event])
        return True

    with contextlib.suppress(Conflict):  # lost every race: someone else changed it
        return retry(attempt, attempts=_ATTEMPTS)
    return False
