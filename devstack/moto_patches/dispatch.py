"""Lookups moto repeats on every call: an SQS queue's retention period and its
attributes on a send, a response class's method names."""

from __future__ import annotations

import threading
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


# -- a send reads one attribute, not all ------------------------------------------------------

_sending = threading.local()


def send_reads_one_attribute() -> None:
    """Sending a message read its queue's every attribute (two of them walking the
    queue's messages) for ContentBasedDeduplication, which only a FIFO queue has: a send
    cost what the queue held. For a standard queue the attribute is absent either way;
    while a send runs, its queue answers no attributes (only that one is read)."""
    from moto.sqs.models import Queue, SQSBackend

    real_send = SQSBackend.send_message
    real_attributes: Any = vars(Queue)["attributes"]  # the property itself

    def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        _sending.queue = None if self.get_queue(queue_name).fifo_queue else queue_name
        try:
            return real_send(self, queue_name, *args, **kwargs)
        finally:
            _sending.queue = None

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(_sending, "queue", None) == self.name:
            return {}
        return dict(real_attributes.fget(self))

    replace(SQSBackend, "send_message", send_message)
    replace(Queue, "attributes", property(attributes))
