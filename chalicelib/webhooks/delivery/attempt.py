"""One queue message's steps, each a few DynamoDB calls (batch.py runs them on a thread
pool around the HTTP attempt): `prepare` decides what the message means and claims the
attempt; `finish` records its outcome and schedules the retry; `release` gives back a
claim whose attempt never started."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from chalicelib.core import clock
from chalicelib.webhooks import repo as webhooks
from chalicelib.webhooks import service, signing, subscriptions
from chalicelib.webhooks.delivery import repo
from chalicelib.webhooks.delivery.queue import SQS_MAX_DELAY, Message, message
from chalicelib.webhooks.delivery.retry import max_attempts, next_delay
from chalicelib.webhooks.delivery.transport import MIN_ATTEMPT, Request
from chalicelib.webhooks.models import DEFAULT_TIMEOUT

PAUSE_RECHECK = 60
PAUSE_HOLD = 86400  # deliveries wait this long for a paused webhook, then are cancelled
EARLY_SLACK = 2.0


@dataclass
class Job:
    message_id: str
    did: str
    seq: int
    item: dict[str, Any] | None = None
    hook: dict[str, Any] | None = None
    request: Request | None = None
    resend: Message | None = None
    failed: bool = False
    deadline: float | None = None  # time.monotonic() by which attempts must end
    owner_scopes: frozenset[str] = frozenset()  # the webhook's owner's, as of this batch
    outcome: str = ""  # delivered | retrying | failed | cancelled: counted as a metric


def prepare(job: Job) -> None:
    """Decides what this message means, and claims the attempt when there is one."""
    item, hook = job.item, job.hook
    assert item is not None
    if item["status"] != "pending" or int(item.get("attemptCount", 0)) != job.seq:
        return  # stale or duplicate message: the slot is taken or over
    if hook is None or webhooks.is_disabled(hook):
        if repo.cancel(item, "webhook deleted" if hook is None else "webhook disabled",
                       job.seq):
            job.outcome = "cancelled"
        return
    if not subscriptions.may_send(str(item["event"]), hook, job.owner_scopes):
        # Fan-out's rule at every attempt: the owner lost the read scope since, or the
        # URL was moved by someone who lacks it (earlier data must not follow it there).
        if repo.cancel(item, "no longer sendable: the webhook's owner may not read this "
                       "event, or whoever last set its events or URL could not", job.seq):
            job.outcome = "cancelled"
        return
    now = clock.now()
    if webhooks.is_paused(hook) and not item.get("targeted"):
        held = repo.epoch(item.get("heldSince") or clock.iso(now))
        if now - held > PAUSE_HOLD:
            if repo.cancel(item, "webhook paused too long", job.seq):
                job.outcome = "cancelled"
            return
        # Held, not attempted: the DUE sweep offers it again each minute until resumed.
        repo.update(item["id"], {"heldSince": clock.iso(held), "updatedAt": clock.iso(now),
                                 "nextAttemptAt": clock.iso(now + PAUSE_RECHECK),
                                 **repo.due_at(now + PAUSE_RECHECK, item["id"])},
                    condition="#status = :p AND attemptCount = :seq",
                    values={"p": "pending", "seq": job.seq})
        return
    due = repo.epoch(item.get("nextAttemptAt") or clock.iso(now))
    if due > now + EARLY_SLACK:
        # Early (a duplicate message, a sweep ahead of time): wait for the slot.
        if due - now <= SQS_MAX_DELAY:
            job.resend = message(item, job.seq, due - now)
        return
    if job.deadline is not None and job.deadline - time.monotonic() < MIN_ATTEMPT:
        job.resend = message(item, job.seq)  # unclaimed: the next invocation sends it
        return
    claim = {"status": "delivering", "attemptCount": job.seq + 1,
             "cycleAttempt": int(item.get("cycleAttempt", 0)) + 1, "claimedAt": clock.iso(now),
             "claim": uuid.uuid4().hex, "updatedAt": clock.iso(now),
             **repo.due_at(now + repo.STUCK_AFTER, item["id"])}
    if repo.update(item["id"], claim, remove=("heldSince",),
                   condition="#status = :p AND attemptCount = :seq",
                   values={"p": "pending", "seq": job.seq}) is None:
        return  # another worker won the slot
    # The condition held, so the item is the one read plus the claim.
    job.item = {k: v for k, v in {**item, **claim}.items() if k != "heldSince"}
    attempt = job.seq + 1
    ts = clock.now_int()
    headers = signing.headers(service.secrets_for_signing(hook), item["eventId"], ts,
                              item["body"], item["event"], attempt, service.custom_headers(hook))
    timeout = float(hook.get("timeoutSeconds") or DEFAULT_TIMEOUT)  # (older items: none)
    job.request = Request(hook["url"], headers, item["body"], timeout, job.deadline)


def finish(job: Job) -> None:
    """Records the attempt's outcome: delivered, failed for good, or a retry scheduled."""
    item, hook, req = job.item, job.hook, job.request
    assert item is not None and hook is not None and req is not None
    out = req.outcome
    if out.unsent:
        release(job)
        return
    now = clock.now()
    entry: dict[str, Any] = {
        "attempt": int(item["attemptCount"]), "at": clock.iso(now - out.duration_ms / 1000),
        "status": out.status, "durationMs": out.duration_ms,
        "requestHeaders": signing.redact(req.headers), "responseBody": out.body,
        "error": out.error}
    changes: dict[str, Any] = {"updatedAt": clock.iso(now)}
    remove: tuple[str, ...] = ()
    if out.ok:
        changes.update({"status": "delivered", "nextAttemptAt": None, "deliveredAt":
                        clock.iso(now)})
        remove = (*repo.OFF_DUE, "claim")
        job.outcome = "delivered"
    elif out.status == 410:
        # The receiver says the endpoint is gone for good: stop at once. The delivery is
        # failed (not cancelled): it was attempted, and stays redeliverable.
        service.disable(hook["id"], "endpoint answered 410 Gone")
        changes.update({"status": "failed", "nextAttemptAt": None,
                        "reason": "endpoint answered 410 Gone; webhook disabled"})
        remove = (*repo.OFF_DUE, "claim")
        job.outcome = "failed"
    elif int(item.get("cycleAttempt", 1)) >= max_attempts(hook):
        changes.update({"status": "failed", "nextAttemptAt": None,
                        "reason": "no attempt succeeded"})
        remove = (*repo.OFF_DUE, "claim")
        job.outcome = "failed"
    else:
        delay = next_delay(hook, int(item.get("cycleAttempt", 1)), out)
        sched, sqs_delay = repo.schedule_at(item, now + delay)
        changes.update(sched)
        entry["nextAttemptAt"] = sched["nextAttemptAt"]
        remove = ("claim",)
        job.outcome = "retrying"
        if sqs_delay is not None:
            job.resend = message(item, int(item["attemptCount"]), sqs_delay)
    append: dict[str, list[Any]] | None = {"attempts": [entry]}
    kept = repo.keep_attempts([*item.get("attempts", []), entry])
    if len(kept) <= len(item.get("attempts", [])):  # full: rewrite, dropping the oldest
        changes["attempts"], append = kept, None
    done = repo.update(item["id"], changes, remove=remove, condition="claim = :c",
                       values={"c": item["claim"]}, append=append)
    if done is None:
        job.resend = None  # the watchdog took the delivery back meanwhile
        job.outcome = ""


def release(job: Job) -> None:
    """Gives back a claim whose attempt never started: the slot is pending again, with
    the same sequence, and its message is re-sent."""
    item = job.item
    assert item is not None
    now = clock.now()
    back = {"status": "pending", "attemptCount": job.seq,
            "cycleAttempt": max(0, int(item.get("cycleAttempt", 1)) - 1),
            "updatedAt": clock.iso(now), **repo.due_at(now + repo.LOST_AFTER, item["id"])}
    done = repo.update(item["id"], back, remove=("claim",), condition="claim = :c",
                       values={"c": item["claim"]})
    job.request = None  # not an outcome for the webhook's health
    job.resend = message(item, job.seq) if done is not None else None
