"""AWS clients, created once per container and reused across invocations.

Created lazily (not at import): no network or credential lookups during a cold start,
and tests can point them at moto before first use.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[str, str, str], Any] = {}


def _get(kind: str, service: str) -> Any:
    from chalicelib.core.settings import get_settings

    settings = get_settings()
    # Keyed by endpoint too: tests and the local stack switch it (and reset the settings).
    key = (kind, service, settings.aws_endpoint_url)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                import boto3
                from botocore.config import Config

                # The services validate every request themselves; botocore's own
                # check of each parameter cost 10-20% of a webhook delivery's CPU.
                cfg = Config(retries={"max_attempts": 3, "mode": "standard"},
                             max_pool_connections=50, parameter_validation=False)
                factory = getattr(boto3.session.Session(), kind)
                found = factory(service, region_name=settings.region,
                                endpoint_url=settings.aws_endpoint_url or None, config=cfg)
                _clients[key] = found
    return found


def client(service: str) -> Any:
    return _get("client", service)


def resource(service: str) -> Any:
    return _get("resource", service)


def reset() -> None:
    """Forget every client (tests that switch endpoints)."""
    with _lock:
        _clients.clear()


_queue_urls: dict[str, str] = {}


def queue_url(purpose: str) -> str:
    """The URL of one of infra's queues (events, webhooks, jobs), looked up once."""
    from chalicelib.core.settings import get_settings

    settings = get_settings()
    name = settings.queue_name(purpose)
    key = f"{settings.aws_endpoint_url}|{name}"
    if key not in _queue_urls:
        _queue_urls[key] = client("sqs").get_queue_url(QueueName=name)["QueueUrl"]
    return _queue_urls[key]


def send_batches(purpose: str, entries: list[dict[str, Any]]) -> list[int]:
    """SendMessageBatch to one of infra's queues, ten entries a call (SQS's cap); each
    entry is {"MessageBody": ..., "DelaySeconds"?: ...}. Answers the indexes of the
    entries SQS refused: it reports them one by one without raising."""
    sqs, url = client("sqs"), queue_url(purpose)
    refused: list[int] = []
    for start in range(0, len(entries), 10):
        chunk = entries[start:start + 10]
        resp = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), **entry} for i, entry in enumerate(chunk)])
        refused += [start + int(f["Id"]) for f in resp.get("Failed") or []]
    return refused


def come_back_in(purpose: str, receipt_handle: str, seconds: float) -> None:
    """A received message of one of infra's queues reappears after `seconds` (SQS
    allows at most 12 h from its receipt) instead of the queue's visibility timeout."""
    client("sqs").change_message_visibility(
        QueueUrl=queue_url(purpose), ReceiptHandle=receipt_handle,
        VisibilityTimeout=max(0, min(int(seconds), 43_200)))
