"""Which request the current work is done for: its server-side id and the caller's IP,
for the records written on its behalf (audit entries). The edge binds it; services read
it here, so none of them depends on the HTTP layer. Thread-local: the local server is
threaded, Lambda runs one request at a time."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Correlation:
    request_id: str = ""
    ip: str = ""


NONE = Correlation()
_local = threading.local()


def current() -> Correlation:
    """The request in progress, or empty ids for work no request started (a queue
    message, a schedule, a direct call)."""
    return getattr(_local, "value", None) or NONE


def bind(request_id: str, ip: str) -> None:
    _local.value = Correlation(request_id, ip)


def clear() -> None:
    _local.value = None
