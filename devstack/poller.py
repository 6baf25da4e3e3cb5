"""The local poller: what Lambda's event sources do in AWS, done in-process (not to be
confused with chalicelib/webhooks/worker.py, the app's own SQS handlers, which it calls).

moto cannot run Lambdas (no Docker) and never fires schedules, so this polls every
queue the app has an SQS handler for and calls the handler with a real SQS event
(partial batch failures honoured: only the reported records stay on the queue; if the
handler raises, all do), and fires the app's scheduled handlers at their rate or cron.
Messages are received with the queue's own visibility timeout and never deleted
before the handler succeeds, so delays, visibility timeouts and the redrive to the
DLQ behave as moto implements them.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalice.app import Chalice, ScheduledEventConfig, ScheduleExpression, SQSEventConfig

log = logging.getLogger("gatehouse-local")  # not a child of Chalice's "gatehouse" (ERROR)

ACCOUNT_ID = "123456789012"
MAX_RECEIVE = 10  # SQS answers at most 10 messages per ReceiveMessage
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400,
          "days": 86400}


# -- events -----------------------------------------------------------------------

def _message_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """ReceiveMessage's shape -> the Lambda event's (camelCase, binary as base64)."""
    out: dict[str, Any] = {}
    for name, value in attrs.items():
        binary = value.get("BinaryValue")
        out[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [base64.b64encode(b).decode()
                                 for b in value.get("BinaryListValues", [])],
            "dataType": value.get("DataType", "String"),
        }
    return out


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS poller sends: one record per received message."""
    records = []
    for msg in messages:
        record: dict[str, Any] = {
            "messageId": msg["MessageId"],
            "receiptHandle": msg["ReceiptHandle"],
            "body": msg.get("Body", ""),
            "attributes": dict(msg.get("Attributes") or {}),
            "messageAttributes": _message_attributes(msg.get("MessageAttributes") or {}),
            "md5OfBody": msg.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if msg.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = msg["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def scheduled_event(rule: str, region: str, when: float) -> dict[str, Any]:
    """The event EventBridge sends a rule's target."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
        "source": "aws.events", "account": ACCOUNT_ID,
        "time": datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region, "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }


def failed_ids(result: Any, batch_ids: set[str]) -> set[str]:
    """Which records stay on the queue, per Lambda's ReportBatchItemFailures rules: the
    listed ones; all of them if the answer names an unknown or empty id."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failed = set()
    for item in result["batchItemFailures"]:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not ident or ident not in batch_ids:
            return set(batch_ids)
        failed.add(str(ident))
    return failed


# -- schedules --------------------------------------------------------------------

_MONTHS = {m: i + 1 for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_FIELDS: list[tuple[int, int, dict[str, int]]] = [
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (1, 7, _DAYS), (1970, 2199, {})]


def _cron_field(text: str, low: int, high: int, names: dict[str, int]) -> set[int] | None:
    """One field of an EventBridge cron; None for '*' and '?'. L, W and # are refused."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.upper().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        else:
            first, _, last = base.partition("-")
            start = names.get(first) or int(first)
            end = (names.get(last) or int(last)) if last else (high if step_text else start)
        if not (low <= start <= high and low <= end <= high) or step < 1:
            raise ValueError(f"cron field out of range: {text}")
        values.update(range(start, end + 1, step))
    return values


@dataclass
class Schedule:
    name: str
    handler: Callable[..., Any]
    period: float | None = None  # rate(...)
    cron: list[set[int] | None] = field(default_factory=list)
    next_at: float = 0.0
    last_minute: int = -1
    rule: str = ""  # the EventBridge rule's name, for the event's resources

    @classmethod
    def parse(cls, name: str, handler: Callable[..., Any], expression: str,
              now: float) -> Schedule:
        rate = re.fullmatch(r"rate\(\s*(\d+)\s+(\w+)\s*\)", expression.strip())
        if rate:
            value, unit = int(rate.group(1)), rate.group(2).lower()
            if unit not in _UNITS or value < 1:
                raise ValueError(f"bad rate: {expression}")
            period = float(value * _UNITS[unit])
            # Like EventBridge: the first run comes one period after the rule is made.
            return cls(name, handler, period=period, next_at=now + period)
        cron = re.fullmatch(r"cron\((.+)\)", expression.strip())
        if cron:
            parts = cron.group(1).split()
            if len(parts) != 6:
                raise ValueError(f"cron needs 6 fields: {expression}")
            fields = [_cron_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
            return cls(name, handler, cron=fields, last_minute=int(now // 60))
        raise ValueError(f"not a schedule expression: {expression}")

    def _cron_matches(self, when: datetime) -> bool:
        minute, hour, dom, month, dow, year = self.cron
        aws_dow = (when.weekday() + 1) % 7 + 1  # EventBridge: SUN=1 .. SAT=7
        checks = [(minute, when.minute), (hour, when.hour), (dom, when.day),
                  (month, when.month), (dow, aws_dow), (year, when.year)]
        return all(allowed is None or value in allowed for allowed, value in checks)

    def due(self, now: float) -> bool:
        """True (once) when the schedule should fire at `now`."""
        if self.period is not None:
            if now < self.next_at:
                return False
            # After a long stall fire once, not once per missed period.
            while self.next_at <= now:
                self.next_at += self.period
            return True
        minute = int(now // 60)
        if minute <= self.last_minute:
            return False
        self.last_minute = minute
        return self._cron_matches(datetime.fromtimestamp(minute * 60, UTC))


# -- the poller -------------------------------------------------------------------

@dataclass
class QueueBinding:
    name: str
    handler: Callable[..., Any]
    queue_name: str
    batch_size: int
    queue_url: str = ""
    queue_arn: str = ""


def _context(name: str) -> Any:
    from chalice.local import LambdaContext

    return LambdaContext(function_name=name, memory_size=512, max_runtime_ms=900_000)


class Poller:
    """SQS pollers (a thread per handler) and a scheduler thread."""

    def __init__(self, app: Chalice, *, sqs: Any = None, region: str = "us-east-1",
                 app_prefix: str = "", wait_seconds: int = 1,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.region = region
        self.wait_seconds = wait_seconds
        self.clock = clock
        self._sqs = sqs
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.queues: list[QueueBinding] = []
        self.schedules: list[Schedule] = []
        now = clock()
        for source in app.event_sources:
            handler = app.handler_map[source.name]
            if isinstance(source, SQSEventConfig):
                queue = source.queue or (source.queue_arn or "").rsplit(":", 1)[-1]
                self.queues.append(QueueBinding(source.name, handler, queue,
                                                max(1, source.batch_size)))
            elif isinstance(source, ScheduledEventConfig):
                expr = source.schedule_expression
                text = expr.to_string() if isinstance(expr, ScheduleExpression) else str(expr)
                try:
                    schedule = Schedule.parse(source.name, handler, text, now)
                except ValueError as exc:
                    log.warning("schedule %s not emulated: %s", source.name, exc)
                    continue
                schedule.rule = f"{app_prefix}{source.name}"
                self.schedules.append(schedule)
            else:
                log.warning("event source %s (%s) is not emulated locally", source.name,
                            type(source).__name__)

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            from chalicelib.core import aws

            self._sqs = aws.client("sqs")
        return self._sqs

    def resolve(self) -> None:
        """Finds each queue's URL and ARN; a queue missing from the stack is an error."""
        for binding in self.queues:
            url = self.sqs.get_queue_url(QueueName=binding.queue_name)["QueueUrl"]
            attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            binding.queue_url, binding.queue_arn = url, attrs["Attributes"]["QueueArn"]

    # One step of each loop, public so tests can drive the poller without threads.

    def poll_once(self, binding: QueueBinding, wait_seconds: int | None = None) -> int:
        """Receives one batch, runs the handler, deletes what succeeded. Answers how
        many messages were received."""
        wait = self.wait_seconds if wait_seconds is None else wait_seconds
        got = self.sqs.receive_message(
            QueueUrl=binding.queue_url, MaxNumberOfMessages=min(binding.batch_size, MAX_RECEIVE),
            WaitTimeSeconds=wait, AttributeNames=["All"], MessageAttributeNames=["All"])
        messages = got.get("Messages") or []
        if not messages:
            return 0
        event = sqs_event(messages, binding.queue_arn, self.region)
        batch_ids = {m["MessageId"] for m in messages}
        try:
            result = binding.handler(event, _context(binding.name))
        except Exception:  # noqa: BLE001 - like Lambda: the whole batch returns to the queue
            log.exception("SQS handler %s failed; %d message(s) stay on the queue",
                          binding.name, len(messages))
            return len(messages)
        failed = failed_ids(result, batch_ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), MAX_RECEIVE):
            chunk = done[start:start + MAX_RECEIVE]
            self.sqs.delete_message_batch(QueueUrl=binding.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(chunk)])
        if failed:
            log.info("SQS handler %s: %d of %d message(s) failed, left for retry",
                     binding.name, len(failed), len(messages))
        return len(messages)

    def fire_due(self, now: float | None = None) -> list[str]:
        """Runs every schedule due at `now`; answers the names fired."""
        now = self.clock() if now is None else now
        fired = []
        for schedule in self.schedules:
            if not schedule.due(now):
                continue
            fired.append(schedule.name)
            try:
                schedule.handler(scheduled_event(schedule.rule, self.region, now),
                                 _context(schedule.name))
            except Exception:  # noqa: BLE001 - a failed run must not stop the scheduler
                log.exception("scheduled handler %s failed", schedule.name)
        return fired

    # -- threads --

    def start(self) -> None:
        self.resolve()
        for binding in self.queues:
            self._spawn(f"sqs-{binding.name}", self._poll_loop, binding)
        if self.schedules:
            self._spawn("scheduler", self._schedule_loop)
        log.info("poller: %d SQS handler(s) %s, %d schedule(s) %s", len(self.queues),
                 [b.queue_name for b in self.queues], len(self.schedules),
                 [s.name for s in self.schedules])

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_loop(self, binding: QueueBinding) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(binding)
            except Exception:  # noqa: BLE001 - e.g. the emulator stopping under us
                if self._stop.is_set():
                    return
                log.exception("polling %s failed; retrying", binding.queue_name)
                self._stop.wait(1.0)

    def _schedule_loop(self) -> None:
        while not self._stop.wait(0.5):
            self.fire_due()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ends every thread; answers whether all ended within `timeout` seconds."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        ended = not any(thread.is_alive() for thread in self._threads)
        self._threads.clear()
        return ended
