"""In-app notifications: each user's inbox (live and sandbox apart), newest first, with
the ticket-tracking brief's field names (`is_read`, `read_at`, `created_at`).

They are raised from platform events: the events queue's handler (app.py's fan_out, in
Lambda and in the local stack) passes its batch to `from_events`, which writes one
notification per event of a known type to the event's owner. The notification's id
derives from the event's, and is written only if absent, so an event sent twice (the
outbox sweeper, an SQS redelivery) notifies once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from chalicelib.core.errors import NotFound
from chalicelib.core.principal import Principal
from chalicelib.notifications import repo, templates

EVENT_ID = re.compile(r"^evt_[0-9A-Za-z]{1,64}$")  # the notification's id derives from it
# Platform event -> (template, how its data becomes the template's variables, links).
_Vars = Callable[[dict[str, Any]], dict[str, Any]]


def _export(data: dict[str, Any]) -> dict[str, Any]:
    error = data.get("error") or {}
    return {"export_id": data.get("exportId", ""), "entity": data.get("entity", ""),
            "format": data.get("format", ""), "rows": data.get("rows", 0),
            "error": error.get("message") or error.get("code") or "unknown error"}


def _import(data: dict[str, Any]) -> dict[str, Any]:
    return {"import_id": data.get("importId", ""), "entity": data.get("entity", ""),
            "success_count": data.get("successCount", 0),
            "error_count": data.get("errorCount", 0)}


def _webhook(data: dict[str, Any]) -> dict[str, Any]:
    return {"webhook_id": data.get("webhookId", ""), "url": data.get("url", ""),
            "reason": data.get("reason", ""), "failing_since": data.get("failingSince") or "",
            "disable_at": data.get("disableAt", "")}


EVENTS: dict[str, tuple[str, _Vars, tuple[str, ...]]] = {
    "export.completed": ("export_completed", _export, ("exportId", "download")),
    "export.failed": ("export_failed", _export, ("exportId",)),
    "import.completed": ("import_completed", _import, ("importId", "errors")),
    "webhook.disabling": ("webhook_disabling", _webhook, ("webhookId", "disableAt")),
    "webhook.disabled": ("webhook_disabled", _webhook, ("webhookId",)),
}


def note_of(event: dict[str, Any]) -> dict[str, Any] | None:
    """The notification an event raises, or None (not a type we notify of, no owner)."""
    kind = EVENTS.get(str(event.get("event", "")))
    owner = str(event.get("owner") or "")
    data = event.get("data")
    event_id = str(event.get("id", ""))
    if kind is None or not owner or not isinstance(data, dict) or not EVENT_ID.match(event_id):
        return None
    name, variables, links = kind
    try:
        rendered = templates.render(templates.named(name), variables(data))
    except Exception:  # noqa: BLE001 - an odd payload still notifies, plainly
        rendered = templates.Rendered(str(event["event"]), str(event["event"]), "", "")
    return {"id": "inapp_" + event_id.removeprefix("evt_"), "type": event["event"],
            "subject": rendered.subject, "message": rendered.text,
            "data": {k: data[k] for k in links if k in data}, "is_read": False,
            "created_at": str(event.get("timestamp") or ""), "eventId": event_id}


def from_events(batch: dict[str, Any]) -> list[str]:
    """An events-queue batch (Lambda's SQS event) -> in-app notifications; answers the
    message ids whose notification could not be written (to be reported failed, so the
    message comes again). Bodies that are not events are left to fan-out to report."""
    from chalicelib.core.logging import get_logger

    failed: list[str] = []
    for record in batch.get("Records") or []:
        body = record.get("body") or ""
        # Most events are not platform events: a substring test spares parsing them.
        if not isinstance(body, str) or not any(name in body for name in EVENTS):
            continue
        try:
            event = json.loads(body)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") not in EVENTS:
            continue
        try:
            note = note_of(event)
            if note is not None:
                repo.put_note(str(event["owner"]), bool(event.get("sandbox")), note)
        except Exception:  # noqa: BLE001 - this message is retried, the batch goes on
            get_logger().exception("in-app notification not written",
                                   extra={"messageId": record.get("messageId")})
            failed.append(str(record.get("messageId", "")))
    return failed


def merge_failures(result: dict[str, Any], failed: list[str]) -> dict[str, Any]:
    """Fan-out's partial-batch answer with these message ids added (each once)."""
    items = list(result.get("batchItemFailures") or [])
    known = {i.get("itemIdentifier") for i in items}
    items += [{"itemIdentifier": m} for m in failed if m and m not in known]
    return {**result, "batchItemFailures": items}


def present(note: dict[str, Any]) -> dict[str, Any]:
    return {"id": note["id"], "type": note.get("type", ""), "subject": note.get("subject", ""),
            "message": note.get("message", ""), "data": note.get("data") or {},
            "is_read": bool(note.get("is_read")), "read_at": note.get("read_at"),
            "created_at": note.get("created_at", "")}


def listing(principal: Principal, is_read: bool | None, *, cursor: str | None,
            page: int | None, per_page: int) -> dict[str, Any]:
    """One page of the caller's inbox, and its counts: `count` (notifications matching
    the filter) and `unread_count` (all unread ones)."""
    owner, sandbox = principal.owner, principal.sandbox
    total, unread = repo.counts(owner, sandbox)
    count = total if is_read is None else (total - unread if is_read else unread)
    if page is None:
        chosen, next_cursor = repo.notes(owner, sandbox, is_read=is_read, cursor=cursor,
                                         limit=per_page)
    else:  # the brief's page numbers: the pages before are read, and skipped
        items, _ = repo.notes(owner, sandbox, is_read=is_read, cursor=None,
                              limit=page * per_page)
        chosen = items[(page - 1) * per_page:]
        more = count > page * per_page and len(chosen) == per_page
        next_cursor = repo.cursor_of(chosen[-1], is_read) if more else None
    return {"items": [present(n) for n in chosen], "next_cursor": next_cursor,
            "count": count, "unread_count": unread}


def mark(principal: Principal, note_id: str, read: bool) -> dict[str, Any]:
    found = None
    if note_id.startswith("inapp_") and len(note_id) <= 64:
        found, _ = repo.set_read(principal.owner, principal.sandbox, note_id, read)
    if found is None:
        raise NotFound("No such notification.")
    return present(found)


def get(principal: Principal, note_id: str) -> dict[str, Any]:
    found = None
    if note_id.startswith("inapp_") and len(note_id) <= 64:
        found = repo.get_note(principal.owner, principal.sandbox, note_id)
    if found is None:
        raise NotFound("No such notification.")
    return present(found)


def mark_all_read(principal: Principal) -> int:
    """Marks every unread notification of the inbox read; answers how many. Pages are
    read from the start each time (those marked leave the unread index); a page that
    changes nothing (an index not yet caught up) ends it."""
    owner, sandbox = principal.owner, principal.sandbox
    changed = 0
    while True:
        unread, _ = repo.notes(owner, sandbox, is_read=False, cursor=None, limit=100)
        now = sum(1 for note in unread if repo.set_read(owner, sandbox, note["id"], True)[1])
        changed += now
        if not now:
            return changed
