"""The pushes queue's handler: each message is one push (connection, event), sent by the
connection's type (push_event: rest POSTs the event to baseUrl + push.path through the
SSRF guard, 15 s at most; s3_drop puts it as an object).

At every attempt, before sending, the push is dropped (logged, never retried) unless:
the connection exists, is active and still subscribes to the type; whoever last set it
up (its ceilingBy) has not ended (owners.ended); its owner holds the type's read scope
now and so did that principal (the connection's ceiling `scopes`); its credentials
decrypt and are still valid for its type.

A failed attempt is tried again after BACKOFF (the message's visibility is set to it,
as jobs/queue.come_back_in does, and the message reported failed), up to MAX_ATTEMPTS
tries over about 22.6 h. Retried: network failures, 5xx, 408, 425, 429 and 401 (see
worth_retrying); then, or at once for a failure no retry mends (another 4xx, a 3xx, the
target refused by the SSRF guard, a config no longer allowed), the push is `failed` and
the connection shows it as `lastPushError`. A config that no longer validates for its
type drops the push. An attempt claims the push first (push_log.claim),
so a duplicate message never sends it twice at once, and one for a push already done
does nothing.

A message the queue gave up on (16 receives, then the dead-letter queue) would leave its
push pending for ever: the minute's sweep (sweep_stuck) marks a push pending for more
than STUCK_AFTER failed ("never delivered: the queue gave up") and shows it as the
connection's lastPushError; it reads the pending pushes' sparse index (push_log.stuck),
never a scan.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.core import aws, clock
from chalicelib.core.logging import get_logger
from chalicelib.integrations import push_config, push_log, repo, types
from chalicelib.integrations.connector import PUSH, Connection
from chalicelib.integrations.outbound import TIMEOUT as CALL_TIMEOUT

MAX_ATTEMPTS = 8
# Seconds before each retry: 1 min, 5 min, 30 min, 1 h, 3 h, 6 h, 12 h (81,360 s, about
# 22.6 h).
BACKOFF = (60, 300, 1800, 3600, 10_800, 21_600, 43_200)
# The longest attempt: an OAuth push gets a token and calls (15 s each, outbound.TIMEOUT),
# and on a 401 gets a new token and calls again.
ATTEMPT_MOST = 4 * int(CALL_TIMEOUT)
# push_events' Lambda timeout (.chalice/config.json; the pushes queue's visibility is six
# times it): the longest attempt and the push's reads and writes around it.
FUNCTION_TIMEOUT = 90
# Seconds an attempt holds its push: longer than the invocation can live, so no other
# attempt starts while one may still send it.
LEASE = FUNCTION_TIMEOUT + 30
# A message is left for later when the invocation has less than this left: the longest
# attempt and 10 s for the reads and writes around it.
LOW_TIME_MS = (ATTEMPT_MOST + 10) * 1000
# SQS's limit: 12 h from the message's receipt, not from the change. A longer wait comes
# back a little early and is put off again for what is left (_not_now).
MAX_VISIBILITY = 43_200 - 900
# The retries span about 22.6 h (BACKOFF); a push still pending 26 h after it was made
# has no message left to try it.
STUCK_AFTER = 26 * 3600
SWEEP_MAX = 500     # stuck pushes failed a minute at most (the rest the next minute)
GAVE_UP = "never delivered: the queue gave up"
RETRIED = frozenset({401, 408, 425, 429})   # the 4xx a later try may pass (and 5xx)
INVALID_CONFIG = "the integration's config is no longer valid for its type"


class Drop(Exception):
    """The push must not be sent (see the module's doc); `reason` is logged."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def process_batch(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """SQS (pushes queue) -> one attempt per message, concurrently (each bounded by the
    outbound timeout); answers {"batchItemFailures": [...]} for the messages to come
    again (a retry due later, a push under way elsewhere, an error)."""
    records = list(event.get("Records") or [])
    if not records:
        return {"batchItemFailures": []}
    with ThreadPoolExecutor(max_workers=min(len(records), 10)) as pool:
        again = list(pool.map(lambda r: _one(r, context), records))
    return {"batchItemFailures": [{"itemIdentifier": str(r.get("messageId", ""))}
                                  for r, back in zip(records, again, strict=True) if back]}


def _one(record: dict[str, Any], context: Any) -> bool:
    """True: the message is to come again."""
    left = getattr(context, "get_remaining_time_in_millis", None)
    if left is not None and left() < LOW_TIME_MS:
        return True  # not claimed: it comes again after the queue's visibility timeout
    try:
        wait = handle(record)
    except Exception:  # noqa: BLE001 - reported failed: the message comes again
        get_logger().exception("push attempt failed unexpectedly",
                               extra={"messageId": record.get("messageId")})
        return True
    if wait is None:
        return False
    try:
        come_back_in(str(record.get("receiptHandle") or ""), min(wait, MAX_VISIBILITY))
    except Exception:  # noqa: BLE001 - it comes back after the queue's visibility timeout,
        # and finds its push not yet due (_not_now) or claimable
        get_logger().exception("push message's visibility not changed",
                               extra={"messageId": record.get("messageId")})
    return True


def come_back_in(receipt_handle: str, seconds: int) -> None:
    aws.come_back_in("pushes", receipt_handle, seconds)


def handle(record: dict[str, Any]) -> int | None:
    """One message: None when it is done with, else the seconds until it is to come
    again. Raises ValueError for a body that is not a push message."""
    from chalicelib.integrations.push_fanout import PushMessage

    msg = PushMessage.model_validate_json(record.get("body") or "")
    event_id = str(msg.event.get("id", ""))
    claimed = push_log.claim(msg.connection_id, event_id, LEASE)
    if claimed is None:
        return _not_now(msg.connection_id, event_id)
    log = {"integrationId": msg.connection_id, "eventId": event_id,
           "eventType": msg.event.get("event"), "attempt": claimed.get("attempts")}
    try:
        conn, event = _checked(msg.connection_id, msg.event)
    except Drop as drop:
        push_log.finish(msg.connection_id, event_id, "dropped", reason=drop.reason)
        get_logger().info("push dropped", extra={**log, "reason": drop.reason})
        return None
    return _attempt(conn, event, int(claimed.get("attempts", 1)), log)


def _not_now(connection_id: str, event_id: str) -> int | None:
    """Why the push could not be claimed: done (or unknown) -> None; due later or under
    way elsewhere -> the seconds until then."""
    item = push_log.get(connection_id, event_id)
    if item is None or item.get("status") != "pending":
        return None
    now = clock.now_int()
    until = max(int(item.get("dueAt", 0)), int(item.get("claimedUntil", 0)))
    return max(until - now, 1) if until > now else 1


def _checked(connection_id: str, event: dict[str, Any]) -> tuple[Connection, dict[str, Any]]:
    """The connection (with its credentials) and the event's public body, or Drop."""
    from chalicelib.auth.owners import current_scopes, ended
    from chalicelib.events import catalog, outbox

    item = repo.get_item(connection_id, consistent=True)
    if item is None:
        raise Drop("the integration was deleted")
    if item.get("status", "active") != "active":
        raise Drop("the integration is paused")
    event_type = str(event.get("event", ""))
    if bool(item.get("sandbox")) != bool(event.get("sandbox")):
        raise Drop("the event is of another namespace")
    owner = str(item["owner"])
    if event.get("owner") and event["owner"] != owner:
        raise Drop("the event is another owner's")
    patterns = set(push_config.events_of(dict(item.get("config") or {})))
    if not patterns & set(push_config.patterns_of(event_type)):
        raise Drop("the integration no longer subscribes to this event type")
    gone = ended(str(item.get("ceilingBy") or item.get("createdBy") or ""))
    if gone:
        raise Drop(f"whoever set up the integration was {gone}")
    scope = catalog.read_scope(event_type)
    if not catalog.readable(event_type, current_scopes([owner]).get(owner, frozenset())):
        raise Drop(f"the integration's owner no longer holds {scope}")
    if not catalog.readable(event_type, item.get("scopes") or ()):
        raise Drop(f"whoever set up the integration did not hold {scope}")
    try:
        conn = repo.of_item(item, decrypt=True)
        kind = types.get(conn.type)
        if kind.credentials_model is not None:
            kind.credentials_model.model_validate(conn.credentials)
    except Exception:  # noqa: BLE001 - whatever the cause, these credentials cannot be used
        raise Drop("the integration's credentials cannot be used") from None
    if PUSH not in kind.directions:
        raise Drop(f"a {kind.type} integration does not push events")
    if event.get("subject"):
        event = outbox.current(event)  # erased since it was fanned out: the rewritten copy
    return conn, outbox.public_body(event)


def worth_retrying(exc: Any) -> bool:
    """Whether a later try may succeed (a RemoteError): a network failure (a timeout, a
    refused connection), 5xx, 408, 425, 429, and 401 (the call already got a new OAuth
    token once: credentials put right meanwhile may pass). Any other answer (3xx, 400,
    404, 410, 422...) and a refusal of ours (the SSRF guard, an answer too large, a bad
    header) would only be refused again."""
    status = exc.status
    if status is None:
        return bool(exc.transient)
    return status >= 500 or status in RETRIED


def _attempt(conn: Connection, event: dict[str, Any], attempt: int,
             log: dict[str, Any]) -> int | None:
    from botocore.exceptions import BotoCoreError, ClientError
    from pydantic import ValidationError

    from chalicelib.core.errors import AppError
    from chalicelib.integrations.outbound import RemoteError
    from chalicelib.integrations.service import scrub

    kind = types.get(conn.type)
    retry = True
    try:
        result = kind.push_event(conn, event)
    except RemoteError as exc:
        retry = worth_retrying(exc)
        error = exc.message
    except ValidationError:   # the config no longer validates for its type: nor will it
        push_log.finish(conn.id, str(event["id"]), "dropped", reason=INVALID_CONFIG)
        get_logger().info("push dropped", extra={**log, "reason": INVALID_CONFIG})
        return None
    except (ClientError, BotoCoreError) as exc:
        error = f"the storage call failed: {type(exc).__name__}"
        if isinstance(exc, ClientError):
            error += f" ({exc.response.get('Error', {}).get('Code', '')})"
    except AppError as exc:   # the config is no longer allowed (an operator's list)
        retry, error = False, exc.message
    else:
        push_log.finish(conn.id, str(event["id"]), "delivered", result=result)
        get_logger().info("push delivered", extra=log)
        return None
    error = str(scrub(error, conn.credentials))
    if retry and attempt < MAX_ATTEMPTS:
        wait = BACKOFF[min(attempt, len(BACKOFF)) - 1]
        push_log.later(conn.id, str(event["id"]), clock.now_int() + wait, error)
        get_logger().warning("push failed; tried again later",
                             extra={**log, "error": error, "retryIn": wait})
        return wait
    push_log.finish(conn.id, str(event["id"]), "failed", lastError=error)
    repo.note_push_error(conn.id, {"eventId": event["id"], "eventType": event["event"],
                                   "message": error, "at": clock.iso()})
    get_logger().warning("push failed; given up", extra={**log, "error": error})
    return None


def sweep_stuck() -> dict[str, int]:
    """The minute's sweep: pushes pending for more than STUCK_AFTER become failed.
    Answers {"failed": n}; an error is logged (the next minute tries again)."""
    try:
        cutoff = clock.iso(clock.now() - STUCK_AFTER)
        failed = 0
        for connection_id, event_id in push_log.stuck(cutoff, SWEEP_MAX):
            item = push_log.give_up(connection_id, event_id, GAVE_UP)
            if item is None:
                continue  # delivered or being tried meanwhile
            failed += 1
            repo.note_push_error(connection_id, {
                "eventId": event_id, "eventType": item.get("eventType"),
                "message": GAVE_UP, "at": clock.iso()})
            get_logger().warning("push never delivered; marked failed", extra={
                "integrationId": connection_id, "eventId": event_id})
        return {"failed": failed}
    except Exception:  # noqa: BLE001 - the minute's other steps must not fail with it
        get_logger().exception("stuck pushes' sweep failed")
        return {"error": 1}
