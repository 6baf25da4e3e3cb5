"""The local poller (devstack/poller.py) against moto (in-process), with a throwaway
Chalice app: real SQS events, partial batch failures, a failing handler, delays, and
scheduled handlers."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from chalice import Chalice, Cron, Rate

from devstack.poller import Poller, Schedule, failed_ids


@pytest.fixture
def sqs(_moto: None) -> Any:
    return boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def queues(sqs: Any) -> Any:
    """Two fresh queues with a 1 s visibility timeout, so retries show up quickly."""
    suffix = uuid.uuid4().hex[:8]
    names = {"jobs": f"wq-jobs-{suffix}", "boom": f"wq-boom-{suffix}"}
    urls = {k: sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
            for k, n in names.items()}
    yield names, urls
    for url in urls.values():
        sqs.delete_queue(QueueUrl=url)


def throwaway_app(names: dict[str, str], seen: list[dict[str, Any]],
                  fired: list[dict[str, Any]]) -> Chalice:
    app = Chalice(app_name="throwaway")

    @app.on_sqs_message(queue=names["jobs"], batch_size=10)
    def consume(event: Any) -> dict[str, Any]:
        failures = []
        for record in event:
            raw = record.to_dict()
            seen.append(raw)
            if record.body.startswith("bad"):
                failures.append({"itemIdentifier": raw["messageId"]})
        return {"batchItemFailures": failures}

    @app.on_sqs_message(queue=names["boom"], batch_size=5)
    def explode(event: Any) -> None:
        seen.extend(r.to_dict() for r in event)
        raise RuntimeError("handler bug")

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def every_five(event: Any) -> None:
        fired.append({"name": "every_five", **event.to_dict()})

    @app.schedule(Cron(0, 12, "*", "*", "?", "*"))
    def at_noon(event: Any) -> None:
        fired.append({"name": "at_noon", **event.to_dict()})

    @app.schedule("rate(1 minute)")
    def failing_tick(event: Any) -> None:
        raise ValueError("scheduled bug")

    return app


def _drain(poller: Poller, binding: Any) -> int:
    return poller.poll_once(binding, wait_seconds=0)


def _bound(sqs: Any, names: Any, seen: list[dict[str, Any]], handler: str) -> Any:
    """A poller over the throwaway app, and its binding of one SQS handler."""
    poller = Poller(throwaway_app(names, seen, []), sqs=sqs, region="us-east-1")
    poller.resolve()
    return poller, next(b for b in poller.queues if b.name == handler)


def _eventually(check: Any, timeout: float = 10.0) -> None:
    """Waits until `check()` holds (the emulator's clock is real time: a visibility
    timeout or a delay has to pass), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.1)


def _bodies(sqs: Any, url: str) -> list[str]:
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return sorted(m["Body"] for m in got.get("Messages", []))


def test_partial_batch_failure_keeps_only_the_failed_records(sqs, queues):
    names, urls = queues
    seen: list[dict[str, Any]] = []
    poller, jobs = _bound(sqs, names, seen, "consume")
    for body in ("good-1", "bad-1", "good-2"):
        sqs.send_message(QueueUrl=urls["jobs"], MessageBody=body, MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "test"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})

    received = 0
    for _ in range(3):  # moto may hand the three over in more than one receive
        received += _drain(poller, jobs)
    assert received == 3
    assert sorted(r["body"] for r in seen) == ["bad-1", "good-1", "good-2"]
    record = seen[0]
    arn = sqs.get_queue_attributes(QueueUrl=urls["jobs"],
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["awsRegion"] == "us-east-1"
    assert record["messageId"] and record["receiptHandle"] and record["md5OfBody"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="

    # Still invisible: the poller used the queue's visibility timeout, not its own.
    assert _bodies(sqs, urls["jobs"]) == []
    _eventually(lambda: _bodies(sqs, urls["jobs"]) == ["bad-1"])  # the good ones were deleted


def test_a_raising_handler_leaves_the_whole_batch(sqs, queues):
    names, urls = queues
    poller, boom = _bound(sqs, names, [], "explode")
    sqs.send_message_batch(QueueUrl=urls["boom"], Entries=[
        {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two"}])
    assert _drain(poller, boom) + _drain(poller, boom) == 2
    _eventually(lambda: _bodies(sqs, urls["boom"]) == ["one", "two"])


def test_delayed_messages_wait_for_their_delay(sqs, queues):
    names, urls = queues
    seen: list[dict[str, Any]] = []
    poller, jobs = _bound(sqs, names, seen, "consume")
    sqs.send_message(QueueUrl=urls["jobs"], MessageBody="later", DelaySeconds=1)
    assert _drain(poller, jobs) == 0
    _eventually(lambda: _drain(poller, jobs) == 1)
    assert [r["body"] for r in seen] == ["later"]


def test_failed_ids_follows_lambda_rules():
    batch = {"m1", "m2", "m3"}
    assert failed_ids(None, batch) == set()
    assert failed_ids({"batchItemFailures": []}, batch) == set()
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "m2"}]}, batch) == {"m2"}
    # An id not in the batch (or empty) fails the whole batch, as Lambda does.
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "zz"}]}, batch) == batch
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, batch) == batch


def test_schedules_fire_at_their_rate_and_cron(sqs, queues):
    names, _urls = queues
    fired: list[dict[str, Any]] = []
    start = datetime(2030, 1, 7, 11, 58, 10, tzinfo=UTC).timestamp()  # a Monday
    poller = Poller(throwaway_app(names, [], fired), sqs=sqs, region="us-east-1",
                    app_prefix="throwaway-local-", clock=lambda: start)
    assert sorted(s.name for s in poller.schedules) == ["at_noon", "every_five", "failing_tick"]

    assert poller.fire_due(start + 30) == []
    assert poller.fire_due(start + 60) == ["failing_tick"]  # its exception is contained
    assert poller.fire_due(start + 61) == []
    noon = datetime(2030, 1, 7, 12, 0, 5, tzinfo=UTC).timestamp()
    assert poller.fire_due(noon) == ["at_noon"]
    assert "at_noon" not in poller.fire_due(noon + 20)  # once per matching minute
    assert "at_noon" not in poller.fire_due(noon + 60)
    assert "every_five" in poller.fire_due(start + 300)
    assert "every_five" not in poller.fire_due(start + 301)
    # After a long stall: one run, not one per missed period.
    assert poller.fire_due(start + 3600).count("every_five") == 1

    event = next(f for f in fired if f["name"] == "every_five")
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["resources"] == [
        "arn:aws:events:us-east-1:123456789012:rule/throwaway-local-every_five"]
    assert event["time"].endswith("Z") and event["detail"] == {}


def test_cron_expressions():
    handler = lambda event, context: None  # noqa: E731
    now = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    weekdays = Schedule.parse("x", handler, "cron(0/15 9-17 ? * MON-FRI *)", now)
    tuesday_915 = datetime(2030, 1, 1, 9, 15, tzinfo=UTC).timestamp()  # 2030-01-01: Tuesday
    assert weekdays.due(tuesday_915)
    assert not weekdays.due(datetime(2030, 1, 1, 9, 20, tzinfo=UTC).timestamp())
    saturday = datetime(2030, 1, 5, 9, 15, tzinfo=UTC).timestamp()
    assert not weekdays.due(saturday)
    with pytest.raises(ValueError):
        Schedule.parse("x", handler, "cron(0 12 L * ? *)", now)
    with pytest.raises(ValueError):
        Schedule.parse("x", handler, "rate(5 fortnights)", now)


def test_threads_deliver_and_stop_promptly(sqs, queues):
    names, urls = queues
    seen: list[dict[str, Any]] = []
    poller = Poller(throwaway_app(names, seen, []), sqs=sqs, wait_seconds=1)
    poller.start()
    try:
        sqs.send_message(QueueUrl=urls["jobs"], MessageBody="via-thread")
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [r["body"] for r in seen] == ["via-thread"]
    finally:
        assert poller.stop(timeout=3), "a polling thread outlived stop()"


def test_a_missing_queue_is_reported(sqs):
    app = Chalice(app_name="throwaway")

    @app.on_sqs_message(queue="no-such-queue-" + uuid.uuid4().hex[:6])
    def consume(event: Any) -> None:
        pass

    poller = Poller(app, sqs=sqs)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        poller.resolve()
