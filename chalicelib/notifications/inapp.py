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
from collections.abc import Callable
from typing import Any

from chalicelib.core.errors import NotFound
from chalicelib.core.principal import Principal
from chalicelib.notifications import repo, templates

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
    if kind is None or not owner or not isinstance(data, dict):
        return None
    name, variables, links = kind
    try:
        rendered = templates.render(templates.named(name), variables(data))
    except Exception:  # noqa: BLE001 - an odd payload still notifies, plainly
        rendered = templates.Rendered(str(event["event"]), str(event["event"]), "", "")
    event_id = str(event.get("id", ""))
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
        try:
            event = json.loads(record.get("body") or "")
        except (TypeError, ValueError):
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
    """One page of the caller's inbox, and its counts: `count` (matching the filter) and
    `unread_count` (all unread), both over the newest repo.INBOX_READ_CAP."""
    owner, sandbox = principal.owner, principal.sandbox
    everything = repo.inbox(owner, sandbox)
    unread = sum(1 for n in everything if not n.get("is_read"))
    matching = [n for n in everything
                if is_read is None or bool(n.get("is_read")) == is_read]
    if page is not None:
        start = (page - 1) * per_page
    else:
        after = repo.after_cursor(owner, sandbox, cursor)
        start = 0 if after is None else next(
            (i for i, n in enumerate(matching) if n["SK"] < after), len(matching))
    chosen = matching[start:start + per_page]
    more = start + per_page < len(matching)
    next_cursor = repo.cursor_of(owner, sandbox, chosen[-1]["id"]) if more and chosen else None
    return {"items": [present(n) for n in chosen], "next_cursor": next_cursor,
            "count": len(matching), "unread_count": unread}


def mark(principal: Principal, note_id: str, read: bool) -> dict[str, Any]:
    found = None
    if note_id.startswith("inapp_") and len(note_id) <= 64:
        found = repo.set_read(principal.owner, principal.sandbox, note_id, read)
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
    """Marks every unread notification of the inbox read; answers how many."""
    changed = 0
    for note in repo.inbox(principal.owner, principal.sandbox):
        if not note.get("is_read") and repo.set_read(principal.owner, principal.sandbox,
                                                     note["id"], True) is not None:
            changed += 1
    return changed

