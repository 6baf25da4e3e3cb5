"""DynamoDB items of notifications: the only module that knows their keys.

Send record (one POST /notifications/send, or one connector send)
  PK = NOTIFICATION#<id> (id "ntf_..."), SK = NOTIFICATION
  GSI1PK = OWNER#<owner>#NOTIFICATION, GSI1SK = <createdAt>#<id>   the owner's sends
  GSI2PK = NOTIFICATION,               GSI2SK = <createdAt>#<id>   everyone's (admin)
  id, channel, template, subject, status (sending | sent | partial | failed | sandbox),
  recipients [{to, status, messageId?, error?}], owner, createdBy, sandbox, createdAt,
  updatedAt, ttl (KEEP_DAYS: recipients are personal data). The body is not kept.

Daily send quota
  PK = NOTIFYQUOTA#<owner>, SK = <YYYY-MM-DD>   count (recipients), ttl (2 days)

In-app notification (one owner's inbox; live and sandbox apart)
  PK = INAPP#<owner>[#SANDBOX], SK = NOTE#<id> (id "inapp_..." sorts by time)
  GSI1PK = INAPP#<owner>[#SANDBOX]#UNREAD, GSI1SK = NOTE#<id>   while unread only
  id, subject, message, type, data (map), is_read, read_at, created_at, eventId?
Its counters, in the same partition
  PK = INAPP#<owner>[#SANDBOX], SK = COUNTS   total, unread
Every change of a notification's existence or read state moves the counters in the same
transaction, so counts are one GetItem and never drift; that is also why notifications
carry no TTL (DynamoDB's deletions would not move the counters): an inbox keeps its
newest INBOX_CAP, the oldest removed (with their counts) as new ones arrive.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import clock
from chalicelib.core.errors import Conflict
from chalicelib.store import optimistic
from chalicelib.store import table as store

KIND = "NOTIFICATION"
KEEP_DAYS = 90  # send records


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

INBOX_CAP = 500
_PRUNE_STEP = 25  # oldest notifications removed per arrival, at most


def inbox_pk(owner: str, sandbox: bool) -> str:
    return f"INAPP#{owner}#SANDBOX" if sandbox else f"INAPP#{owner}"


def note_sk(note_id: str) -> str:
    return f"NOTE#{note_id}"


def _unread_keys(pk: str, sk: str) -> dict[str, str]:
    """The sparse index of unread notifications: `is_read=false` reads just its page."""
    return {"GSI1PK": f"{pk}#UNREAD", "GSI1SK": sk}


def _counts_op(pk: str, total: int, unread: int) -> dict[str, Any]:
    """Atomic increments of an inbox's counters (created by the first)."""
    return {"Update": {"Key": {"PK": pk, "SK": "COUNTS"}, "UpdateExpression": "ADD #t :t, #u :u",
                       "ExpressionAttributeNames": {"#t": "total", "#u": "unread"},
                       "ExpressionAttributeValues": {":t": total, ":u": unread}}}


def counts(owner: str, sandbox: bool) -> tuple[int, int]:
    """(total, unread) of an inbox."""
    item = store.get(inbox_pk(owner, sandbox), "COUNTS", consistent=True) or {}
    total = max(0, int(item.get("total", 0)))
    return total, min(total, max(0, int(item.get("unread", 0))))


def put_note(owner: str, sandbox: bool, note: dict[str, Any]) -> bool:
    """False if a notification with this id is already there (a redelivered event)."""
    pk, sk = inbox_pk(owner, sandbox), note_sk(note["id"])
    item = {**note, "PK": pk, "SK": sk, **({} if note.get("is_read") else _unread_keys(pk, sk))}
    put = {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}
    try:
        store.transact([put, _counts_op(pk, 1, 0 if note.get("is_read") else 1)])
    except store.TransactionConflict as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
            return False
        raise
    _prune(owner, sandbox)
    return True


def _prune(owner: str, sandbox: bool) -> None:
    total, _ = counts(owner, sandbox)
    if total <= INBOX_CAP:
        return
    oldest, _ = store.query_page(inbox_pk(owner, sandbox), sk_prefix="NOTE#", forward=True,
                                 limit=min(total - INBOX_CAP, _PRUNE_STEP))
    for note in oldest:
        _delete(owner, sandbox, note)


def _delete(owner: str, sandbox: bool, note: dict[str, Any]) -> None:
    pk, seen = inbox_pk(owner, sandbox), bool(note.get("is_read"))
    delete = {"Delete": {"Key": {"PK": pk, "SK": note["SK"]},
                         "ConditionExpression": "is_read = :seen",
                         "ExpressionAttributeValues": {":seen": seen}}}
    try:
        store.transact([delete, _counts_op(pk, -1, 0 if seen else -1)])
    except store.TransactionConflict:
        pass  # read or removed meanwhile: the next arrival prunes again


def get_note(owner: str, sandbox: bool, note_id: str) -> dict[str, Any] | None:
    return store.get(inbox_pk(owner, sandbox), note_sk(note_id), consistent=True)


def notes(owner: str, sandbox: bool, *, is_read: bool | None, cursor: str | None,
          limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the inbox, newest first, optionally only read or unread ones."""
    pk = inbox_pk(owner, sandbox)
    if is_read is False:
        return store.query_page(f"{pk}#UNREAD", index="GSI1", cursor=cursor, limit=limit)
    keep = None if is_read is None else (lambda n: bool(n.get("is_read")))
    return store.query_page(pk, sk_prefix="NOTE#", cursor=cursor, limit=limit,
                            item_filter=keep)


def set_read(owner: str, sandbox: bool, note_id: str, read: bool
             ) -> tuple[dict[str, Any] | None, bool]:
    """The notification after the change (None if there is none) and whether this call
    changed it. Marking a read one read keeps its first read_at."""
    from chalicelib.core import clock

    pk, sk = inbox_pk(owner, sandbox), note_sk(note_id)
    changes: dict[str, Any] = ({"is_read": True, "read_at": clock.iso()} if read
                               else {"is_read": False, **_unread_keys(pk, sk)})
    removed = ("GSI1PK", "GSI1SK") if read else ("read_at",)
    update = store.update_request(pk, sk, changes, remove=removed,
                                  condition="attribute_exists(PK) AND is_read = :was",
                                  values={":was": not read})
    try:
        store.transact([{"Update": update}, _counts_op(pk, 0, -1 if read else 1)])
        changed = True
    except store.TransactionConflict:
        changed = False  # already so, or absent: the read below tells
    return store.get(pk, sk, consistent=True), changed


def cursor_of(note: dict[str, Any], is_read: bool | None) -> str | None:
    """The cursor after this notification in the listing `notes` answers for is_read."""
    names = ("PK", "SK", "GSI1PK", "GSI1SK") if is_read is False else ("PK", "SK")
    return store.encode_cursor({k: note[k] for k in names})
