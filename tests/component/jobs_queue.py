"""The jobs queue as Lambda's event source would feed it to the worker, for the tests of
the job engine and of the jobs on it (exports, imports)."""

from __future__ import annotations

from typing import Any


class Clockwork:
    """A Lambda context whose remaining time is plenty for `steps` readings, then
    short: the engine suspends after about that many steps."""

    def __init__(self, steps: int) -> None:
        self.readings = 0
        self.steps = steps

    def get_remaining_time_in_millis(self) -> int:
        self.readings += 1
        return 600_000 if self.readings <= self.steps else 1_000


class Died(BaseException):
    """The worker's process ending mid-step (nothing the engine can catch)."""


def sqs() -> Any:
    from chalicelib.core import aws

    return aws.client("sqs")


def jobs_url() -> str:
    from chalicelib.core.aws import queue_url

    return queue_url("jobs")


def record(msg: dict[str, Any]) -> dict[str, Any]:
    """An SQS event record of a received message."""
    return {"messageId": msg["MessageId"], "receiptHandle": msg["ReceiptHandle"],
            "body": msg["Body"]}


def run_jobs(context: Any = None, limit: int | None = None) -> int:
    """Feeds the jobs queue's messages, one per invocation, to the worker (a message
    reported failed stays), until the queue is empty or `limit` ran; answers how many
    ran."""
    from chalicelib.jobs import worker

    ran = 0
    while limit is None or ran < limit:
        got = sqs().receive_message(QueueUrl=jobs_url(), MaxNumberOfMessages=1,
                                    WaitTimeSeconds=0).get("Messages") or []
        if not got:
            return ran
        msg = got[0]
        result = worker.process_batch({"Records": [record(msg)]}, context)
        ran += 1
        if not result["batchItemFailures"]:
            sqs().delete_message(QueueUrl=jobs_url(), ReceiptHandle=msg["ReceiptHandle"])
        assert ran < 300, "the jobs queue never emptied"
    return ran
