"""The retry policy: how many attempts a webhook gets, and the wait before each retry."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from chalicelib.webhooks import repo as webhooks
from chalicelib.webhooks.delivery.transport import Outcome

MAX_RETRY_AFTER = 3600
BACKOFF_FACTOR = 2.0  # timeouts and 429s wait twice the scheduled delay
JITTER = 0.2


def max_attempts(hook: dict[str, Any]) -> int:
    return 1 + max(0, webhooks.retry_count(hook))


def next_delay(hook: dict[str, Any], retry_number: int, outcome: Outcome,
               rng: Callable[[float, float], float] = random.uniform) -> float:
    """The wait before retry `retry_number` (1-based): the schedule's delay (the last one
    repeats when retryCount exceeds it) with +-20% jitter; twice that after a timeout or
    a 429; at least Retry-After on 429/503, never beyond MAX_RETRY_AFTER."""
    schedule = webhooks.retry_schedule(hook) or [60]
    base = float(schedule[min(retry_number - 1, len(schedule) - 1)])
    delay = base * rng(1 - JITTER, 1 + JITTER)
    if outcome.timed_out or outcome.status == 429:
        delay *= BACKOFF_FACTOR
    if outcome.status in (429, 503) and outcome.retry_after is not None:
        delay = max(delay, min(outcome.retry_after, MAX_RETRY_AFTER))
    return delay
