"""A batch of the webhooks queue: its messages' steps (attempt.py) run concurrently, the
DynamoDB side on a thread pool and the HTTP attempts on the batch's keep-alive
connections (transport.py), with one read of the batch's deliveries, webhooks and
owners, one send of its re-sends, one health outcome per webhook, and its outcomes
counted (metric WebhookDelivery, by outcome: delivered, retrying, failed, cancelled).

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
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.auth.owners import scopes_in, user_key
from chalicelib.core import metrics
from chalicelib.store import table as store
from chalicelib.webhooks import repo as webhooks
from chalicelib.webhooks.delivery import attempt, queue, repo, transport
from chalicelib.webhooks.delivery.attempt import Job
from chalicelib.webhooks.models import DELIVERY_FUNCTION_TIMEOUT

CONCURRENCY = 32  # threads for the DynamoDB side of a batch
SAFETY_MARGIN = 5.0  # seconds of an invocation kept for recording outcomes and re-sends

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """One pool per container: starting threads on every batch costs more than the work."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="delivery")
    return _pool


def process_event(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One SQS batch of the webhooks queue, through Powertools' AsyncBatchProcessor: each
    message runs claim -> HTTP attempt -> outcome as its own coroutine, and the processor
    answers the failed messages as `batchItemFailures` (raising when all failed, so that
    the whole batch is retried). A message fails when it is not a delivery message
    (poison: to the DLQ in the end) or when a step raised. `context`: the Lambda context,
    whose remaining time bounds the attempts (see the module's docstring)."""
    from aws_lambda_powertools.utilities.batch import (
        AsyncBatchProcessor,
        EventType,
        async_process_partial_response,
    )

    deadline = time.monotonic() + remaining_seconds(context) - SAFETY_MARGIN
    batch = Batch(event.get("Records") or [], deadline)
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


class Batch:
    """What the messages of one batch share: one read of their deliveries, webhooks and
    owners (BatchGetItem), the connections, the re-sends (sent together at the end) and
    one health outcome per webhook."""

    def __init__(self, records: list[dict[str, Any]], deadline: float | None = None) -> None:
        # Keyed by the record itself (Powertools hands the same dicts back): message ids
        # are unique in SQS, but nothing here should depend on it.
        self.by_record: dict[int, Job | str | None] = {}
        self.jobs: list[Job] = []
        named: list[queue.Message] = []
        seen: set[tuple[str, int]] = set()
        for record in records:
            mid = str(record.get("messageId", ""))
            try:
                msg = queue.parse(record["body"])
            except (KeyError, TypeError, ValueError):
                self.by_record[id(record)] = None  # poison
                continue
            job = Job(mid, msg.delivery_id, msg.seq)
            if (job.did, job.seq) in seen:
                self.by_record[id(record)] = _DUPLICATE  # the same slot twice: acked
                continue
            seen.add((job.did, job.seq))
            self.by_record[id(record)] = job
            self.jobs.append(job)
            named.append(msg)
        self._read(named)
        self.running = len(records)
        self.deadline = deadline
        self.clients: transport.Clients | None = None

    def _read(self, messages: list[queue.Message]) -> None:
        """The deliveries, their webhooks and those webhooks' owners (fan-out's rule is
        checked before every attempt), in one BatchGetItem: the messages name the
        webhook and owner their delivery names. What a message did not name (an older
        message) is read after, from the deliveries."""
        delivery_keys = {repo.key(m.delivery_id): m.delivery_id for m in messages}
        wanted = {*delivery_keys,
                  *(webhooks.key(m.webhook_id) for m in messages if m.webhook_id),
                  *(user_key(m.owner) for m in messages if m.owner)}
        found = store.batch_get(list(wanted), True)
        deliveries = {did: found[k] for k, did in delivery_keys.items() if k in found}
        hook_keys = {i["webhookId"]: webhooks.key(i["webhookId"]) for i in deliveries.values()}
        owners = {str(i.get("owner") or "") for i in deliveries.values()} - {""}
        missing = ({*hook_keys.values(), *(user_key(o) for o in owners)} - wanted)
        if missing:
            found.update(store.batch_get(list(missing), True))
        scopes = scopes_in(found, owners)
        for job in self.jobs:
            job.item = deliveries.get(job.did)
            if job.item is None:
                job.failed = True  # no such delivery: retried, then the DLQ
                continue
            job.hook = found.get(hook_keys[job.item["webhookId"]])
            if job.hook is not None:
                job.owner_scopes = scopes.get(str(job.hook.get("owner") or ""), frozenset())

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
                # The last message done closes the connections, inside the loop that owns them.
                await self.clients.close()
                self.clients = None

    async def _run(self, job: Job) -> None:
        loop = asyncio.get_running_loop()
        job.deadline = self.deadline
        if job.failed or not await loop.run_in_executor(_executor(), _step, attempt.prepare,
                                                        job):
            return
        if job.request is None:
            return
        if self.clients is None:
            self.clients = transport.Clients()
        await transport.send(job.request, self.clients)
        await loop.run_in_executor(_executor(), _step, attempt.finish, job)

    def after(self) -> None:
        resend = [j.resend for j in self.jobs if j.resend is not None and not j.failed]
        try:
            queue.enqueue(resend)
        except Exception:  # noqa: BLE001 - the DUE sweep re-sends them
            from chalicelib.core.logging import get_logger

            get_logger().exception("re-sending deliveries failed; left for the sweeper")
        _record_health([j for j in self.jobs if j.request is not None and not j.failed])
        outcomes = Counter(j.outcome for j in self.jobs if j.outcome and not j.failed)
        for outcome, n in outcomes.items():
            metrics.count("WebhookDelivery", n, outcome=outcome)


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


def _record_health(jobs: list[Job]) -> None:
    """One outcome per webhook per batch (any success counts as healthy); a failing one
    is checked against the warn and disable thresholds."""
    from chalicelib.core.logging import get_logger
    from chalicelib.webhooks import endpoint_health

    by_hook: dict[str, bool] = {}
    hooks: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if job.hook is None or job.request is None:
            continue
        hid = job.hook["id"]
        hooks[hid] = job.hook
        by_hook[hid] = by_hook.get(hid, False) or job.request.outcome.ok
    for hid, ok in by_hook.items():
        try:
            endpoint_health.record(hid, ok, seen=hooks[hid])
        except Exception:  # noqa: BLE001 - health bookkeeping never fails a delivery
            get_logger().exception("recording webhook health failed")
