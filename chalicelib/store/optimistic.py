"""The one optimistic-concurrency loop: read, compute, write on condition that nothing
changed meanwhile; on a lost race, wait a little (jittered, growing) and go again."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from chalicelib.core.errors import Conflict

T = TypeVar("T")
ATTEMPTS = 8


class LostRace(Exception):  # noqa: N818 - a signal to the loop, not an error of the caller
    """Raised by an attempt whose conditional write failed because someone else wrote
    first; `retry` runs the attempt again from its read."""


def retry(attempt: Callable[[], T], *, attempts: int = ATTEMPTS,
          conflict: str = "The item changed concurrently; try again.") -> T:
    """`attempt()` until it returns without raising LostRace; after `attempts` lost
    races, Conflict(conflict) (409: the caller may read again and retry)."""
    for n in range(attempts):
        try:
            return attempt()
        except LostRace:
            if n + 1 < attempts:
                # Jitter spreads racers apart; the cap keeps a request's added wait small.
                time.sleep(random.uniform(0, 0.01 * min(n + 1, 5)))  # noqa: S311
    raise Conflict(conflict)
