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
