"""Structured JSON logs (Powertools Logger) that carry who and what they are for.

`bind` adds keys to every line the current thread logs until `unbind`: the edge binds
the request id and the principal for each request, `lambda_handler` the Lambda context
for each event. Thread-local (Powertools' thread-safe keys): the local stack serves
requests and runs queue handlers in threads of one process, so keys appended to the
logger as a whole would leak from one request into another's lines.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar, cast

from chalicelib.core import metrics

F = TypeVar("F", bound=Callable[..., Any])

_cold = True


@lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools import Logger

    # Not "gatehouse": that is Chalice's own logger, whose handler would print every line twice.
    return Logger(service="gatehouse-api")


def bind(**keys: object) -> None:
    get_logger().thread_safe_append_keys(**keys)


def unbind(*names: str) -> None:
    get_logger().thread_safe_remove_keys(names)


def lambda_context_keys(context: Any) -> dict[str, object]:
    """The keys Powertools' inject_lambda_context adds, read from a Lambda context (none
    without one: a direct call)."""
    global _cold
    cold, _cold = _cold, False
    if context is None:
        return {}
    return {"function_name": getattr(context, "function_name", ""),
            "function_memory_size": getattr(context, "memory_limit_in_mb", None),
            "function_arn": getattr(context, "invoked_function_arn", ""),
            "function_request_id": getattr(context, "aws_request_id", ""),
            "cold_start": cold}


def lambda_handler(func: F) -> F:
    """Powertools' inject_lambda_context for Chalice's handlers, which take (event) for
    SQS and schedules (the context is event.context) and (event, context) for plain
    Lambda functions; the keys are bound for the call only (see the module's note).
    Also what Powertools' log_metrics does: the metrics counted are printed after."""

    @functools.wraps(func)  # Chalice names the Lambda function after func.__name__
    def handler(event: Any, *args: Any) -> Any:
        context = args[0] if args else getattr(event, "context", None)
        keys = lambda_context_keys(context)
        if keys:
            bind(**keys)
        try:
            return func(event, *args)
        finally:
            metrics.flush_metrics()
            if keys:
                unbind(*keys)

    return cast(F, handler)
