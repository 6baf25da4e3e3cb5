"""Two lookups moto repeats on every call: an SQS queue's retention period, a response
class's method names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devstack.moto_patches.registry import replace

# -- SQS: a queue's retention period read, not all its attributes computed ---------------

def retention_read_directly() -> None:
    """Receiving a message computed every attribute of its queue (each one walking the
    queue's messages) to read one of them."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str,
                                                   message: Any) -> bool:
        retention = self.get_queue(queue_name).message_retention_period
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    replace(SQSBackend, "is_message_valid_based_on_retention_period",
             is_message_valid_based_on_retention_period)


# -- a class's method names, listed once ----------------------------------------------------

def cached_method_names() -> None:
    """moto lists a response class's methods (inspect.getmembers) on every call to
    find the action's; a class's methods do not change."""
    from moto.core import responses

    real: Callable[[object], list[str]] = responses.method_names_from_class
    cache: dict[object, list[str]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        names = cache.get(clazz)
        if names is None:
            names = cache[clazz] = real(clazz)
        return names

    replace(responses, "method_names_from_class", method_names_from_class)
