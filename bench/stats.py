"""The one percentile formula of the benchmarks: nearest rank (the smallest value with at
least p% of the values at or below it), so p50 and p99 are values that were measured."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(len(ordered), max(1, rank)) - 1]
