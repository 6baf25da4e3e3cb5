"""Webhook deliveries: the item, its state machine, the HTTP attempt and the retry timer.

A delivery is one event to one webhook:
  DELIVERY#<id> / DELIVERY
  GSI1 = WEBHOOK#<webhookId>#DLV / <createdAt>#<id>     the webhook's deliveries, newest first
  GSI2 = DUE / <deadline>#<id>                           every unfinished delivery (see below)

States: pending -> delivering -> delivered | pending (retry) | failed; cancelled when the
webhook is gone or disabled, or may no longer be sent the event (fan-out's rule,
subscriptions.may_send, checked again before every attempt: the owners of a batch's
webhooks are read once). Each queue message names (deliveryId, seq); an attempt starts
only by a conditional claim `status = pending AND attemptCount = seq`, so duplicate or
stale messages (SQS is at-least-once, the sweeper may re-enqueue) never cause a second
attempt for the same slot.

The retry timer: a wait of at most 15 minutes is an SQS DelaySeconds on the re-sent
message; a longer one is only `nextAttemptAt` plus the DUE index, which the minute
schedule sweeps, enqueueing what falls due within the next sweep with the exact remaining
delay. The DUE index also holds every other unfinished delivery at the time by which
somebody must have acted on it (a lost message, a worker that died mid-attempt), so the
sweeper is the watchdog too: nothing stays pending or delivering for ever.

Time: a batch's attempts share the invocation's remaining time (the Lambda context's,
or the configured function timeout when there is none), less SAFETY_MARGIN kept to
record outcomes. Each attempt gets the webhook's timeout or what is left of that budget,
whichever is less; a message that cannot get MIN_ATTEMPT is not claimed but re-sent,
and an attempt claimed but left without budget is released unsent. So a hanging
receiver never runs the invocation out of time, which would leave its batch's claims to
the watchdog and its messages to be sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib.auth.owners import scopes_in, user_key
from chalicelib.core import aws, clock, ids
from chalicelib.store import table as store
from chalicelib.webhooks import repo, service, signing, subscriptions
from chalicelib.webhooks.models import DEFAULT_TIMEOUT, DELIVERY_FUNCTION_TIMEOUT

DUE = "DUE"
STATUSES = ("pending", "delivering", "delivered", "failed", "cancelled")
SQS_MAX_DELAY = 900
SWEEP_AHEAD = 75  # the sweep runs every minute: enqueue what falls due before the next one
LOST_AFTER = 300  # an SQS-timed attempt this late means its message was lost
STUCK_AFTER = 300  # a claim older than this means the worker died mid-attempt
PAUSE_RECHECK = 60
PAUSE_HOLD = 86400  # deliveries wait this long for a paused webhook, then are cancelled
MAX_RETRY_AFTER = 3600
BACKOFF_FACTOR = 2.0  # timeouts and 429s wait twice the scheduled delay
JITTER = 0.2
EARLY_SLACK = 2.0
LOG_BODY_BYTES = 4096
KEEP_ATTEMPTS = 50
KEEP_DAYS = 30  # a delivery and its attempt log, from its creation (redeliverable till then)
ATTEMPT_LOG_BYTES = 200_000  # with the payload, well under DynamoDB's 400 KB per item
CONCURRENCY = 32  # threads for the DynamoDB side of a batch
PER_HOST = 20  # concurrent attempts per receiver host within one invocation
POOL_SIZE = 5  # connections per httpx pool; a host gets PER_HOST / POOL_SIZE pools
SAFETY_MARGIN = 5.0  # seconds of an invocation kept for recording outcomes and re-sends
MIN_ATTEMPT = 1.0  # an attempt with less time than this is not started



# -- the webhook management side: service.py owns webhooks, ssrf.py the targets --------

def resolve(url: str) -> list[str]:
    """The addresses the attempt may connect to (raises when the target is not allowed)."""
    from chalicelib.webhooks import ssrf

    return [str(ip) for ip in ssrf.resolve(url)]


def is_paused(hook: dict[str, Any]) -> bool:
    return hook.get("status") == "paused" or hook.get("active") is False


def is_disabled(hook: dict[str, Any]) -> bool:
    return hook.get("status") == "disabled"


# -- items --------------------------------------------------------------------------

def delivery_id(event_id: str, webhook_id: str) -> str:
    return "dlv_" + ids.sha256_hex(event_id + webhook_id)[:24]


def key(did: str) -> tuple[str, str]:
    return f"DELIVERY#{did}", "DELIVERY"


def _due_sk(at: float, did: str) -> str:
    return f"{clock.iso(at)}#{did}"


def new_item(event: dict[str, Any], hook: dict[str, Any], body: str) -> dict[str, Any]:
    now = clock.now()
    did = delivery_id(event["id"], hook["id"])
    pk, sk = key(did)
    created = clock.iso(now)
    return {
        "PK": pk, "SK": sk, "GSI1PK": f"WEBHOOK#{hook['id']}#DLV", "GSI1SK": f"{created}#{did}",
        # On the DUE index from birth: if the message never reaches the queue, the
        # sweeper sends it.
        "GSI2PK": DUE, "GSI2SK": _due_sk(now + LOST_AFTER, did),
        "id": did, "webhookId": hook["id"], "owner": hook.get("owner", ""),
        "event": event["event"], "eventId": event["id"], "body": body, "status": "pending",
        "targeted": bool(event.get("webhookId")),  # webhook.test: sent even while paused
        "attempts": [], "attemptCount": 0, "cycleAttempt": 0, "nextAttemptAt": created,
        "createdAt": created, "updatedAt": created, "ttl": int(now) + KEEP_DAYS * 86400,
        **({"personal": event.get("personal") or {}} if event.get("subject") else {}),
    }


def get(did: str) -> dict[str, Any] | None:
    return store.get(*key(did), consistent=True)


def public(item: dict[str, Any], readable: bool, with_payload: bool = False
           ) -> dict[str, Any]:
    """The API's view. Not `readable` (the event type's read scope is missing, see
    deliveries.py): no payload `data` and no receiver answers (which may echo it)."""
    from chalicelib.events.catalog import read_scope

    out = {k: item.get(k) for k in ("id", "webhookId", "event", "eventId", "status",
                                    "attemptCount", "nextAttemptAt", "createdAt",
                                    "updatedAt")}
    out["requiredScope"] = read_scope(str(item.get("event")))
    attempts = item.get("attempts", [])
    out["attempts"] = attempts if readable else [
        {**a, "responseBody": None} for a in attempts]
    if not readable:
        out["dataOmitted"] = True
    if item.get("reason"):
        out["reason"] = item["reason"]
    if with_payload:
        try:
            payload = json.loads(item.get("body") or "null")
        except ValueError:
            payload = None
        if not readable and isinstance(payload, dict):
            payload.pop("data", None)
        out["payload"] = payload
    return out


def _update(did: str, changes: dict[str, Any], *, remove: Iterable[str] = (),
            condition: str = "attribute_exists(PK)",
            values: dict[str, Any] | None = None, append: dict[str, list[Any]] | None = None,
            returns: bool = False) -> dict[str, Any] | None:
    """store.update on one delivery: None when the condition failed, else {} (or the new
    item with `returns`: most callers know the new state, and an item can hold 200 KB of
    attempt log). Conditions may use #status (a reserved word) and name their values
    without the colon."""
    return store.update(*key(did), changes, remove=tuple(remove), condition=condition,
                        values={f":{k}": v for k, v in (values or {}).items()},
                        names={"#status": "status"} if "#status" in condition else None,
                        append=append, returns=returns)


def batch_get(dids: list[str]) -> dict[str, dict[str, Any]]:
    """Deliveries by id, consistent, in BatchGetItem calls."""
    return {i["id"]: i for i in store.batch_get([key(d) for d in dids], True).values()}


def enqueue(entries: list[tuple[str, int, float]]) -> None:
    """(deliveryId, seq, delay seconds) -> the webhooks queue. SQS delays are whole
    seconds: rounded, since an arrival up to EARLY_SLACK early is still attempted."""
    if not entries:
        return
    from chalicelib.events.outbox import queue_url

    sqs = aws.client("sqs")
    url = queue_url("webhooks")
    for start in range(0, len(entries), 10):
        chunk = entries[start:start + 10]
        resp = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": json.dumps({"deliveryId": d, "seq": s}),
             "DelaySeconds": max(0, min(SQS_MAX_DELAY, round(delay)))}
            for i, (d, s, delay) in enumerate(chunk)])
        if resp.get("Failed"):
            raise RuntimeError(f"SQS refused {len(resp['Failed'])} message(s)")


def schedule_at(item: dict[str, Any], at: float) -> tuple[dict[str, Any], float | None]:
    """The attributes that put a pending delivery's next attempt at `at`, and the SQS
    delay to send now (None: the DUE sweep will send it)."""
    delay = at - clock.now()
    changes = {"status": "pending", "nextAttemptAt": clock.iso(at), "GSI2PK": DUE}
    if delay <= SQS_MAX_DELAY:
        changes["GSI2SK"] = _due_sk(at + LOST_AFTER, item["id"])
        return changes, max(0.0, delay)
    changes["GSI2SK"] = _due_sk(at, item["id"])
    return changes, None


# -- the retry policy -----------------------------------------------------------------

def max_attempts(hook: dict[str, Any]) -> int:
    return 1 + max(0, service.effective_retry_count(hook))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds or an HTTP-date (RFC 9110 10.2.3); None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime

    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - clock.now())
    except (TypeError, ValueError, IndexError):
        return None


def next_delay(hook: dict[str, Any], retry_number: int, outcome: Outcome,
               rng: Callable[[float, float], float] = random.uniform) -> float:
    """The wait before retry `retry_number` (1-based): the schedule's delay (the last one
    repeats when retryCount exceeds it) with +-20% jitter; twice that after a timeout or
    a 429; at least Retry-After on 429/503, never beyond MAX_RETRY_AFTER."""
    schedule = service.effective_retry_schedule(hook) or [60]
    base = float(schedule[min(retry_number - 1, len(schedule) - 1)])
    delay = base * rng(1 - JITTER, 1 + JITTER)
    if outcome.timed_out or outcome.status == 429:
        delay *= BACKOFF_FACTOR
    if outcome.status in (429, 503) and outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, MAX_RETRY_AFTER))
    return delay


# -- one attempt over HTTP ----------------------------------------------------------------

@dataclass
class Outcome:
    status: int | None = None
    duration_ms: int = 0
    body: str = ""
    error: str | None = None
    retry_after: float | None = None
    timed_out: bool = False
    unsent: bool = False  # no budget left once its turn came: released, not attempted

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Request:
    url: str
    headers: dict[str, str]
    body: str
    timeout: float
    deadline: float | None = None  # time.monotonic() by which the attempt must be over
    outcome: Outcome = field(default_factory=Outcome)

    def budget(self) -> float:
        """The attempt's timeout: the webhook's, or less if the invocation is ending."""
        if self.deadline is None:
            return self.timeout
        return min(self.timeout, self.deadline - time.monotonic())


class _Clients:
    """Connection pools per target host (pooled connections are keyed by the pinned
    address, and must never carry one host's TLS session to another), several small
    ones per host: httpx's pool costs more CPU per request the more connections it holds
    (one pool of 20 ran at 19% of a receiver's capacity, four of 5 at about 50%)."""

    def __init__(self) -> None:
        self._by_host: dict[str, list[Any]] = {}
        self._busy: dict[int, int] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}

    def pools(self, host: str) -> list[Any]:
        import httpx

        if host not in self._by_host:
            self._by_host[host] = [httpx.AsyncClient(
                follow_redirects=False, trust_env=False,  # no proxies, no redirects
                limits=httpx.Limits(max_connections=POOL_SIZE,
                                    max_keepalive_connections=POOL_SIZE))
                for _ in range(max(1, math.ceil(PER_HOST / POOL_SIZE)))]
        return self._by_host[host]

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[Any]:
        """At most PER_HOST attempts in flight per receiver host (polite to receivers),
        each on the least busy pool, which then always has a free connection: waiting
        for a slot is not part of the attempt's timeout, and no attempt waits inside a
        pool. Yields the pool to send with."""
        if host not in self._slots:
            self._slots[host] = asyncio.Semaphore(PER_HOST)
        async with self._slots[host]:
            pool = min(self.pools(host), key=lambda p: self._busy.get(id(p), 0))
            self._busy[id(pool)] = self._busy.get(id(pool), 0) + 1
            try:
                yield pool
            finally:
                self._busy[id(pool)] -= 1

    async def close(self) -> None:
        for pools in self._by_host.values():
            for pool in pools:
                await pool.aclose()


async def _send_one(req: Request, clients: _Clients, resolved: dict[str, Any]) -> None:
    import httpx

    out = req.outcome
    started = time.perf_counter()
    timeout = req.timeout
    try:
        # The SSRF check runs at every attempt; the connection goes to the checked address
        # only (Host header and TLS SNI keep the name), so DNS cannot be rebound after it.
        if req.url not in resolved:
            resolved[req.url] = asyncio.get_running_loop().run_in_executor(
                None, resolve, req.url)
        addrs = await resolved[req.url]
        url = httpx.URL(req.url)
        host = url.host
        pinned = url.copy_with(host=addrs[0])
        headers = dict(req.headers)
        default_port = {"http": 80, "https": 443}[url.scheme]
        headers["Host"] = host if url.port in (None, default_port) else f"{host}:{url.port}"

        async def exchange(client: Any) -> None:
            request = client.build_request(
                "POST", pinned, content=req.body.encode(), headers=headers,
                timeout=httpx.Timeout(timeout),
                extensions={"sni_hostname": host} if url.scheme == "https" else {})
            resp = await client.send(request, stream=True)
            try:
                out.status = resp.status_code
                out.retry_after = parse_retry_after(resp.headers.get("retry-after"))
                got = b""
                async for chunk in resp.aiter_raw():
                    got += chunk
                    if len(got) >= LOG_BODY_BYTES:
                        break
                out.body = got[:LOG_BODY_BYTES].decode("utf-8", "replace")
            finally:
                await resp.aclose()

        async with clients.slot(host) as client:
            timeout = req.budget()
            if timeout < MIN_ATTEMPT:
                out.unsent, out.error = True, "not attempted: the invocation ran out of time"
                return
            started = time.perf_counter()
            # httpx's timeout is per phase; the attempt's is total (a trickling body counts).
            await asyncio.wait_for(exchange(client), timeout)
        if 300 <= (out.status or 0) < 400:
            out.error = "redirect not followed"
    except (TimeoutError, httpx.TimeoutException):
        out.timed_out, out.status = True, None
        out.error = f"timed out after {timeout:g}s"
    except httpx.HTTPError as exc:
        out.status = None
        out.error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - an SSRF refusal or a bad URL is a failed attempt
        out.status = None
        out.error = f"refused: {exc}"[:500]
    out.duration_ms = int((time.perf_counter() - started) * 1000)


async def _send_all(reqs: list[Request]) -> None:
    clients = _Clients()
    resolved: dict[str, Any] = {}
    try:
        await asyncio.gather(*(_send_one(r, clients, resolved) for r in reqs))
    finally:
        await clients.close()


def send_all(reqs: list[Request]) -> None:
    """Every request concurrently; each gets its Outcome. (The HTTP side alone, as the
    benchmark measures it; a batch runs each attempt within its message's coroutine.)"""
    if reqs:
        asyncio.run(_send_all(reqs))


# -- a batch of queue messages ------------------------------------------------------------

@dataclass
class Job:
    message_id: str
    did: str
    seq: int
    item: dict[str, Any] | None = None
    hook: dict[str, Any] | None = None
    request: Request | None = None
    resend: tuple[str, int, float] | None = None
    failed: bool = False
    deadline: float | None = None  # time.monotonic() by which attempts must end
    owner_scopes: frozenset[str] = frozenset()  # the webhook's owner's, as of this batch


_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """One pool per container: starting threads on every batch costs more than the work."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="delivery")
    return _pool


def process_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One SQS batch of the webhooks queue, through Powertools' AsyncBatchProcessor: each
    message runs claim -> HTTP attempt -> outcome as its own coroutine (the DynamoDB steps
    on a thread pool, the attempts on shared connection pools), and the processor answers
    the failed messages as `batchItemFailures` (raising when all failed, so that the whole
    batch is retried). A message fails when it is not a delivery message (poison: to the
    DLQ in the end) or when a step raised. `context`: the Lambda context, whose remaining
    time bounds the attempts (see the module's docstring)."""
    from aws_lambda_powertools.utilities.batch import (
        AsyncBatchProcessor,
        EventType,
        async_process_partial_response,
    )

    deadline = time.monotonic() + remaining_seconds(context) - SAFETY_MARGIN
    batch = _Batch(event.get("Records") or [], deadline)
    try:
        return dict(async_process_partial_response(event, batch.handle,
                                                   AsyncBatchProcessor(EventType.SQS)))
    finally:
        batch.after()


def remaining_seconds(context: Any) -> float:
    """The invocation's time left: the Lambda context's, else the configured timeout."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return float(remaining()) / 1000
    return float(DELIVERY_FUNCTION_TIMEOUT)


_DUPLICATE = "duplicate"


class _Batch:
    """What the messages of one batch share: one read of their deliveries (BatchGetItem)
    and webhooks, the connection pools, the re-sends (sent together at the end) and one
    health outcome per webhook."""

    def __init__(self, records: list[dict[str, Any]], deadline: float | None = None) -> None:
        # Keyed by the record itself (Powertools hands the same dicts back): message ids
        # are unique in SQS, but nothing here should depend on it.
        self.by_record: dict[int, Job | str | None] = {}
        self.jobs: list[Job] = []
        seen: set[tuple[str, int]] = set()
        for record in records:
            mid = str(record.get("messageId", ""))
            try:
                msg = json.loads(record["body"])
                job = Job(mid, str(msg["deliveryId"]), int(msg["seq"]))
            except (KeyError, TypeError, ValueError):
                self.by_record[id(record)] = None  # poison
                continue
            if (job.did, job.seq) in seen:
                self.by_record[id(record)] = _DUPLICATE  # the same slot twice: acked
                continue
            seen.add((job.did, job.seq))
            self.by_record[id(record)] = job
            self.jobs.append(job)
        found = batch_get([j.did for j in self.jobs])
        hook_keys = {i["webhookId"]: (repo.pk(i["webhookId"]), repo.SK) for i in found.values()}
        # The webhooks and their owners (a delivery names its webhook's owner) in one
        # BatchGetItem: fan-out's rule is checked before every attempt at no extra trip.
        named = {str(i.get("owner") or "") for i in found.values()} - {""}
        both = store.batch_get([*hook_keys.values(), *(user_key(o) for o in named)], True)
        hooks = {k: both[k] for k in hook_keys.values() if k in both}
        scopes = scopes_in(both, named)
        for job in self.jobs:
            job.item = found.get(job.did)
            if job.item is None:
                job.failed = True  # no such delivery: retried, then the DLQ
                continue
            job.hook = hooks.get(hook_keys[job.item["webhookId"]])
            if job.hook is not None:
                job.owner_scopes = scopes.get(str(job.hook.get("owner") or ""), frozenset())
        self.running = len(records)
        self.deadline = deadline
        self.clients: _Clients | None = None
        self.resolved: dict[str, Any] = {}

    async def handle(self, record: Any) -> None:
        """Powertools' record handler (record: its SQSRecord); raising fails the message."""
        try:
            job = self.by_record.get(id(record.raw_event))
            if job is None:
                raise ValueError("not a delivery message")
            if isinstance(job, str):
                return
            await self._run(job)
            if job.failed:
                raise RuntimeError(f"delivery {job.did}: a step failed; the message is retried")
        finally:
            self.running -= 1
            if self.running == 0 and self.clients is not None:
                # The last message done closes the pools, inside the loop that owns them.
                await self.clients.close()
                self.clients = None

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        job.deadline = self.deadline
        if job.failed or not await loop.run_in_executor(_executor(), _step, _prepare, job):
            return
        if job.request is None:
            return
        if self.clients is None:
            self.clients = _Clients()
        await _send_one(job.request, self.clients, self.resolved)
        await loop.run_in_executor(_executor(), _step, _finish, job)

    def after(self) -> None:
        resend = [j.resend for j in self.jobs if j.resend is not None and not j.failed]
        try:
            enqueue(resend)
        except Exception:  # noqa: BLE001 - the DUE sweep re-sends them
            from chalicelib.core.logging import get_logger

            get_logger().exception("re-sending deliveries failed; left for the sweeper")
        _record_health([j for j in self.jobs if j.request is not None and not j.failed])


def _step(fn: Callable[[Job], None], job: Job) -> bool:
    """Runs one DynamoDB-side step; a step that raises fails the job (its message goes
    back to the queue, ending in the DLQ if it keeps failing)."""
    try:
        fn(job)
        return True
    except Exception:  # noqa: BLE001 - one bad message must not fail the batch
        from chalicelib.core.logging import get_logger

        get_logger().exception("delivery step failed", extra={"deliveryId": job.did})
        job.failed = True
        return False


def _prepare(job: Job) -> None:
    """Decides what this message means, and claims the attempt when there is one."""
    item, hook = job.item, job.hook
    assert item is not None
    if item["status"] != "pending" or int(item.get("attemptCount", 0)) != job.seq:
        return  # stale or duplicate message: the slot is taken or over
    if hook is None or is_disabled(hook):
        cancel(item, "webhook deleted" if hook is None else "webhook disabled", job.seq)
        return
    if not subscriptions.may_send(str(item["event"]), hook, job.owner_scopes):
        # Fan-out's rule at every attempt: the owner lost the read scope since, or the
        # URL was moved by someone who lacks it (earlier data must not follow it there).
        cancel(item, "no longer sendable: the webhook's owner may not read this event, or "
               "whoever last set its events or URL could not", job.seq)
        return
    now = clock.now()
    if is_paused(hook) and not item.get("targeted"):
        held = _epoch(item.get("heldSince") or clock.iso(now))
        if now - held > PAUSE_HOLD:
            cancel(item, "webhook paused too long", job.seq)
            return
        # Held, not attempted: the DUE sweep offers it again each minute until resumed.
        _update(item["id"], {"heldSince": clock.iso(held), "updatedAt": clock.iso(now),
                             "nextAttemptAt": clock.iso(now + PAUSE_RECHECK), "GSI2PK": DUE,
                             "GSI2SK": _due_sk(now + PAUSE_RECHECK, item["id"])},
                condition="#status = :p AND attemptCount = :seq",
                values={"p": "pending", "seq": job.seq})
        return
    due = _epoch(item.get("nextAttemptAt") or clock.iso(now))
    if due > now + EARLY_SLACK:
        # Early (a duplicate message, a sweep ahead of time): wait for the slot.
        if due - now <= SQS_MAX_DELAY:
            job.resend = (item["id"], job.seq, due - now)
        return
    if job.deadline is not None and job.deadline - time.monotonic() < MIN_ATTEMPT:
        job.resend = (item["id"], job.seq, 0.0)  # unclaimed: the next invocation sends it
        return
    claim = {"status": "delivering", "attemptCount": job.seq + 1,
             "cycleAttempt": int(item.get("cycleAttempt", 0)) + 1, "claimedAt": clock.iso(now),
             "claim": uuid.uuid4().hex, "updatedAt": clock.iso(now), "GSI2PK": DUE,
             "GSI2SK": _due_sk(now + STUCK_AFTER, item["id"])}
    if _update(item["id"], claim, remove=("heldSince",),
               condition="#status = :p AND attemptCount = :seq",
               values={"p": "pending", "seq": job.seq}) is None:
        return  # another worker won the slot
    # The condition held, so the item is the one read plus the claim.
    job.item = {k: v for k, v in {**item, **claim}.items() if k != "heldSince"}
    attempt = job.seq + 1
    ts = clock.now_int()
    headers = signing.headers(service.secrets_for_signing(hook), item["eventId"], ts, item["body"],
                              item["event"], attempt, service.custom_headers(hook))
    timeout = float(hook.get("timeoutSeconds") or DEFAULT_TIMEOUT)  # (older items: none)
    job.request = Request(hook["url"], headers, item["body"], timeout, job.deadline)


def _finish(job: Job) -> None:
    item, hook, req = job.item, job.hook, job.request
    assert item is not None and hook is not None and req is not None
    out = req.outcome
    if out.unsent:
        _release(job)
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
        remove = ("GSI2PK", "GSI2SK", "claim")
    elif out.status == 410:
        # The receiver says the endpoint is gone for good: stop at once. The delivery is
        # failed (not cancelled): it was attempted, and stays redeliverable.
        service.disable(hook["id"], "endpoint answered 410 Gone")
        changes.update({"status": "failed", "nextAttemptAt": None,
                        "reason": "endpoint answered 410 Gone; webhook disabled"})
        remove = ("GSI2PK", "GSI2SK", "claim")
    elif int(item.get("cycleAttempt", 1)) >= max_attempts(hook):
        changes.update({"status": "failed", "nextAttemptAt": None,
                        "reason": "no attempt succeeded"})
        remove = ("GSI2PK", "GSI2SK", "claim")
    else:
        delay = next_delay(hook, int(item.get("cycleAttempt", 1)), out)
        sched, sqs_delay = schedule_at(item, now + delay)
        changes.update(sched)
        entry["nextAttemptAt"] = sched["nextAttemptAt"]
        remove = ("claim",)
        if sqs_delay is not None:
            job.resend = (item["id"], int(item["attemptCount"]), sqs_delay)
    append: dict[str, list[Any]] | None = {"attempts": [entry]}
    kept = keep_attempts([*item.get("attempts", []), entry])
    if len(kept) <= len(item.get("attempts", [])):  # full: rewrite, dropping the oldest
        changes["attempts"], append = kept, None
    done = _update(item["id"], changes, remove=remove, condition="claim = :c",
                   values={"c": item["claim"]}, append=append)
    if done is None:
        job.resend = None  # the watchdog took the delivery back meanwhile


def _release(job: Job) -> None:
    """Gives back a claim whose attempt never started: the slot is pending again, with
    the same sequence, and its message is re-sent."""
    item = job.item
    assert item is not None
    now = clock.now()
    back = {"status": "pending", "attemptCount": job.seq,
            "cycleAttempt": max(0, int(item.get("cycleAttempt", 1)) - 1),
            "updatedAt": clock.iso(now), "GSI2PK": DUE,
            "GSI2SK": _due_sk(now + LOST_AFTER, item["id"])}
    done = _update(item["id"], back, remove=("claim",), condition="claim = :c",
                   values={"c": item["claim"]})
    job.request = None  # not an outcome for the webhook's health
    job.resend = (item["id"], job.seq, 0.0) if done is not None else None


def keep_attempts(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest attempts that fit the log's count and size bounds (an item over 400 KB
    could never be written again, and its delivery would be stuck)."""
    kept: list[dict[str, Any]] = []
    size = 0
    for att in reversed(attempts[-KEEP_ATTEMPTS:]):
        size += len(json.dumps(att, default=str))
        if kept and size > ATTEMPT_LOG_BYTES:
            break
        kept.append(att)
    return kept[::-1]


def cancel(item: dict[str, Any], reason: str, seq: int | None = None) -> bool:
    cond = "#status IN (:p, :d)"
    values: dict[str, Any] = {"p": "pending", "d": "delivering"}
    if seq is not None:
        cond, values = "#status = :p AND attemptCount = :seq", {"p": "pending", "seq": seq}
    return _update(item["id"], {"status": "cancelled", "nextAttemptAt": None, "reason": reason,
                                "updatedAt": clock.iso()},
                   remove=("GSI2PK", "GSI2SK", "claim"), condition=cond,
                   values=values) is not None


def _record_health(jobs: list[Job]) -> None:
    """One outcome per webhook per batch (any success counts as healthy); a failing one
    is checked against the warn and disable thresholds."""
    from chalicelib.core.logging import get_logger
    from chalicelib.webhooks import health

    by_hook: dict[str, bool] = {}
    for job in jobs:
        if job.hook is None or job.request is None:
            continue
        hid = job.hook["id"]
        by_hook[hid] = by_hook.get(hid, False) or job.request.outcome.ok
    for hid, ok in by_hook.items():
        try:
            health.record(hid, ok)
        except Exception:  # noqa: BLE001 - health bookkeeping never fails a delivery
            get_logger().exception("recording webhook health failed")


# -- the minute sweep: due, lost and stuck deliveries ----------------------------------

def sweep_due(limit: int = 1000) -> dict[str, int]:
    now = clock.now()
    items = list(store.query_all(DUE, index="GSI2", forward=True, max_items=limit,
                                 sk_between=("0", clock.iso(now + SWEEP_AHEAD) + "~")))
    counts = {"due": 0, "stuck": 0, "failed": 0}
    send: list[tuple[str, int, float]] = []
    for item in items:
        status, seq = item.get("status"), int(item.get("attemptCount", 0))
        if status == "pending":
            at = _epoch(item.get("nextAttemptAt") or clock.iso(now))
            moved = _update(item["id"], {"GSI2SK": _due_sk(max(at, now) + LOST_AFTER,
                                                           item["id"])},
                            condition="#status = :p AND attemptCount = :seq",
                            values={"p": "pending", "seq": seq})
            if moved is not None:
                send.append((item["id"], seq, max(0.0, at - now)))
                counts["due"] += 1
        elif status == "delivering":
            if _epoch(item.get("claimedAt") or clock.iso(now)) > now - STUCK_AFTER:
                continue
            counts[_unstick(item, now)] += 1
        else:  # a terminal item with a stale index entry
            _update(item["id"], {}, remove=("GSI2PK", "GSI2SK"))
    enqueue(send)
    return counts


def _unstick(item: dict[str, Any], now: float) -> str:
    """A worker died mid-attempt: the attempt counts (logged as lost); retry or fail."""
    hook = service.get_webhook(item["webhookId"]) or {}
    entry: dict[str, Any] = {"attempt": int(item["attemptCount"]), "at": item.get("claimedAt"),
             "status": None, "durationMs": None, "requestHeaders": {}, "responseBody": "",
             "error": "attempt lost (worker stopped); outcome unknown"}
    attempts = keep_attempts([*item.get("attempts", []), entry])
    cond, values = "claim = :c", {"c": item.get("claim")}
    if int(item.get("cycleAttempt", 1)) >= max_attempts(hook):
        _update(item["id"], {"status": "failed", "nextAttemptAt": None, "attempts": attempts,
                             "reason": "no attempt succeeded", "updatedAt": clock.iso(now)},
                remove=("GSI2PK", "GSI2SK", "claim"), condition=cond, values=values)
        return "failed"
    sched, _ = schedule_at(item, now)
    sched.update({"attempts": attempts, "updatedAt": clock.iso(now)})
    if _update(item["id"], sched, remove=("claim",), condition=cond,
               values=values) is not None:
        enqueue([(item["id"], int(item["attemptCount"]), 0)])
    return "stuck"


# -- the API's operations -----------------------------------------------------------------

def list_for(webhook_id: str, statuses: set[str] | None, cursor: str | None,
             per_page: int, readable: Callable[[str], bool]
             ) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the webhook's deliveries; `readable(event type)` says whose data shows."""
    items, nxt = store.query_page(
        f"WEBHOOK#{webhook_id}#DLV", index="GSI1", cursor=cursor, limit=per_page,
        item_filter=(lambda i: i.get("status") in statuses) if statuses else None)
    return [public(i, readable(str(i.get("event")))) for i in items], nxt


def redeliver(item: dict[str, Any]) -> dict[str, Any] | None:
    """A new attempt cycle now (the attempt history is kept); None if an attempt is
    running or the delivery changed meanwhile."""
    now = clock.now()
    seq = int(item.get("attemptCount", 0))
    sched, _ = schedule_at(item, now)
    sched.update({"cycleAttempt": 0, "updatedAt": clock.iso(now), "redeliveredAt":
                  clock.iso(now)})
    done = _update(item["id"], sched, remove=("reason", "heldSince"), returns=True,
                   condition="#status <> :d AND attemptCount = :seq",
                   values={"d": "delivering", "seq": seq})
    if done is not None:
        enqueue([(item["id"], seq, 0)])
    return done


def recover(webhook_id: str, since: str, until: str,
            sendable: Callable[[str], bool]) -> int:
    """Every failed delivery created in [since, until] whose event type is
    `sendable` gets a new cycle."""
    failed = store.query_all(f"WEBHOOK#{webhook_id}#DLV", index="GSI1",
                             sk_between=(since, until + "~"),
                             item_filter=lambda i: i.get("status") == "failed"
                             and sendable(str(i.get("event"))))
    return sum(1 for item in failed if redeliver(item) is not None)


def stats(webhook_id: str, limit: int = 1000) -> dict[str, Any]:
    """Over the newest `limit` deliveries: outcomes, attempts, latency percentiles."""
    items = list(store.query_all(f"WEBHOOK#{webhook_id}#DLV", index="GSI1", max_items=limit))
    by_status = {s: 0 for s in STATUSES}
    latencies: list[int] = []
    attempts = ok_attempts = 0
    for item in items:
        status_of = str(item.get("status", "pending"))
        by_status[status_of] = by_status.get(status_of, 0) + 1
        for att in item.get("attempts", []):
            attempts += 1
            status = att.get("status")
            if isinstance(status, int) and 200 <= status < 300:
                ok_attempts += 1
            if isinstance(att.get("durationMs"), int):
                latencies.append(att["durationMs"])
    finished = by_status["delivered"] + by_status["failed"]
    latencies.sort()
    return {
        "webhookId": webhook_id, "deliveries": len(items), "byStatus": by_status,
        "successRate": round(by_status["delivered"] / finished, 4) if finished else None,
        "attempts": attempts,
        "attemptSuccessRate": round(ok_attempts / attempts, 4) if attempts else None,
        "latencyMs": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                      "p99": percentile(latencies, 99)},
        "window": {"newest": items[0]["createdAt"] if items else None,
                   "oldest": items[-1]["createdAt"] if items else None},
    }


def percentile(sorted_values: list[int], pct: float) -> int | None:
    if not sorted_values:
        return None
    rank = max(0, math.ceil(pct / 100 * len(sorted_values)) - 1)
    return sorted_values[rank]


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return clock.parse_iso(str(value))
