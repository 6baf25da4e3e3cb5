"""The jobs queue's messages: {"jobId", "seq"}. `seq` is the job's message sequence:
the engine runs a job only for a message at or past the sequence the job expects, so a
duplicate or an overtaken message does nothing (engine.py)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core import aws


class JobMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    job_id: str = Field(alias="jobId", min_length=1, max_length=100)
    seq: int = Field(0, ge=0)

    @classmethod
    def parse(cls, body: str | bytes) -> JobMessage:
        return cls.model_validate_json(body)

    def body(self) -> str:
        return json.dumps({"jobId": self.job_id, "seq": self.seq})


MAX_DELAY = 900  # SQS's longest DelaySeconds
# The jobs queue's visibility timeout (infra/template.py's VISIBILITY_TIMEOUT["jobs"]: six
# times the function's 30 s): a message not acknowledged comes back after this long.
VISIBILITY_SECONDS = 180


def send(job_id: str, seq: int, delay: int = 0) -> None:
    """The job's message; with `delay`, delivered that many seconds later (at most
    MAX_DELAY)."""
    extra = {"DelaySeconds": max(0, min(int(delay), MAX_DELAY))} if delay else {}
    aws.client("sqs").send_message(QueueUrl=aws.queue_url("jobs"),
                                   MessageBody=JobMessage(job_id=job_id, seq=seq).body(),
                                   **extra)


def come_back_in(receipt_handle: str, seconds: int) -> None:
    """The received message reappears after `seconds` (instead of the queue's visibility
    timeout): when a job's lease runs out."""
    aws.come_back_in("jobs", receipt_handle, seconds)


def parse_record(record: Any) -> tuple[JobMessage, str]:
    return JobMessage.parse(record["body"]), str(record.get("receiptHandle") or "")
