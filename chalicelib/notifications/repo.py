"""DynamoDB items of notifications: the only module that knows their keys.

Send record (one POST /notifications/send, or one connector send)
  PK = NOTIFICATION#<id> (id "ntf_..."), SK = NOTIFICATION
  GSI1PK = OWNER#<owner>#NOTIFICATION, GSI1SK = <createdAt>#<id>   the owner's sends
  GSI2PK = NOTIFICATION,               GSI2SK = <createdAt>#<id>   everyone's (admin)
  id, channel, template, subject, status (sending | sent | partial | failed | sandbox),
  recipients [{to, status, messageId?, error?}], owner, createdBy, sandbox, createdAt,
  updatedAt, ttl (KEEP_DAYS; recipients are personal data). The body is not kept.

Daily send quota
  PK = NOTIFYQUOTA#<owner>, SK = <YYYY-MM-DD>   count (recipients), ttl (2 days)

In-app notification (one owner's inbox; live and sandbox apart)
  PK = INAPP#<owner>[#SANDBOX], SK = NOTE#<id> (id "inapp_..." sorts by time)
  id, subject, message, type, data (map), is_read, read_at, created_at, eventId?,
  ttl (KEEP_DAYS)
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import Conflict
from chalicelib.store import optimistic
from chalicelib.store import table as store

KIND = "NOTIFICATION"
KEEP_DAYS = 90
INBOX_READ_CAP = 1_000  # an inbox lists (and counts) its newest 1,000 notifications


def _ttl() -> int:
    return clock.now_int() + KEEP_DAYS * 86400


# -- send records ------------------------------------------------------------------

def record_key(notification_id: str) -> tuple[str, str]:
    return f"NOTIFICATION#{notification_id}", KIND


def put_record(record: dict[str, Any]) -> None:
    pk, sk = record_key(record["id"])
    stamp = f"{record['createdAt']}#{record['id']}"
    store.put_new({**record, "PK": pk, "SK": sk,
                   "GSI1PK": f"OWNER#{record['owner']}#{KIND}", "GSI1SK": stamp,
                   "GSI2PK": KIND, "GSI2SK": stamp, "ttl": _ttl()})


def finish_record(notification_id: str, status: str, recipients: list[dict[str, Any]]
                  ) -> None:
    store.update(*record_key(notification_id), {
        "status": status, "recipients": recipients, "updatedAt": clock.iso()}, returns=False)


def get_record(notification_id: str) -> dict[str, Any] | None:
    return store.get(*record_key(notification_id))


def records(owner: str | None, *, cursor: str | None, limit: int, sandbox: bool | None
            ) -> tuple[list[dict[str, Any]], str | None]:
    keep = None if sandbox is None else (lambda i: bool(i.get("sandbox")) == sandbox)
    return store.owned_page(KIND, owner, cursor=cursor, limit=limit, item_filter=keep)


def charge_quota(owner: str, count: int, limit: int) -> bool:
    """Adds `count` recipients to the owner's count of the day if it stays within
    `limit`; False (nothing added) if it would not."""
    pk, sk = f"NOTIFYQUOTA#{owner}", clock.day()

    def attempt() -> bool:
        item = store.get(pk, sk, consistent=True)
        used = int((item or {}).get("count", 0))
        if used + count > limit:
            return False
        if item is None:
            try:
                store.put_new({"PK": pk, "SK": sk, "count": count,
                               "ttl": clock.now_int() + 2 * 86400})
            except Conflict as exc:  # a racer created it first
                raise optimistic.LostRace from exc
            return True
        done = store.update(pk, sk, {"count": used + count}, condition="#c = :old",
                            names={"#c": "count"}, values={":old": used}, returns=False)
        if done is None:
            raise optimistic.LostRace
        return True

    return optimistic.retry(attempt)


# -- in-app ------------------------------------------------------------------------

def inbox_pk(owner: str, sandbox: bool) -> str:
    return f"INAPP#{owner}#SANDBOX" if sandbox else f"INAPP#{owner}"


def note_sk(note_id: str) -> str:
    return f"NOTE#{note_id}"


def put_note(owner: str, sandbox: bool, note: dict[str, Any]) -> bool:
    """False if a notification with this id is already there (a redelivered event)."""
    try:
        store.put_new({**note, "PK": inbox_pk(owner, sandbox), "SK": note_sk(note["id"]),
                       "ttl": _ttl()})
    except Conflict:
        return False
    return True


def get_note(owner: str, sandbox: bool, note_id: str) -> dict[str, Any] | None:
    return store.get(inbox_pk(owner, sandbox), note_sk(note_id), consistent=True)


def inbox(owner: str, sandbox: bool) -> list[dict[str, Any]]:
    """The newest INBOX_READ_CAP notifications, newest first."""
    return list(store.query_all(inbox_pk(owner, sandbox), max_items=INBOX_READ_CAP,
                                sk_prefix="NOTE#"))


def set_read(owner: str, sandbox: bool, note_id: str, read: bool) -> dict[str, Any] | None:
    """The notification after the change; None if there is none (or it expired)."""
    pk, sk = inbox_pk(owner, sandbox), note_sk(note_id)
    if read:
        # A second "read" keeps the first read_at.
        found = store.update(pk, sk, {"is_read": True, "read_at": clock.iso()},
                             condition="attribute_exists(PK) AND is_read = :f",
                             values={":f": False})
        if found is None:
            found = store.get(pk, sk, consistent=True)
    else:
        found = store.update(pk, sk, {"is_read": False}, remove=("read_at",))
    return None if found is None or store.expired(found) else found


def cursor_of(owner: str, sandbox: bool, note_id: str) -> str | None:
    return store.encode_cursor({"PK": inbox_pk(owner, sandbox), "SK": note_sk(note_id)})


def after_cursor(owner: str, sandbox: bool, cursor: str | None) -> str | None:
    """The SK a cursor points after; 400 for another inbox's cursor."""
    from chalicelib.core.errors import ValidationFailed

    key = store.decode_cursor(cursor)
    if key is None:
        return None
    if key.get("PK") != inbox_pk(owner, sandbox) or "SK" not in key:
        raise ValidationFailed("The cursor belongs to another listing.",
                               details=[{"field": "cursor", "message": "not for this listing"}])
    return str(key["SK"])
