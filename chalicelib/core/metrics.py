"""CloudWatch metrics as Embedded Metric Format lines (Powertools' EMF provider).

    count("RateLimitBreach", kind="client")     # anywhere, any thread
    flush_metrics()                             # the edge after each request, and
                                                # core.logging.lambda_handler after each event

`count` only notes the value (cheap, thread-safe: the delivery engine counts from its
pool's threads); `flush` prints one EMF line per set of dimensions, which CloudWatch
Logs turns into metrics in namespace `Gatehouse`, each with the dimensions `service`
and `stage` besides those given. Dimensions must have few values (each combination is a
metric of its own, billed as such): a kind or an outcome, never an id.

Buffered for the process, not per thread: Lambda runs one event at a time, so a flush
prints exactly its own; on the threaded local stack a flush may print another thread's
counts as well, which loses none.
"""

from __future__ import annotations

import logging
import threading
from numbers import Real

NAMESPACE = "Gatehouse"
SERVICE = "gatehouse-api"

_lock = threading.Lock()
_pending: list[tuple[str, float, tuple[tuple[str, str], ...]]] = []


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Notes `value` (default 1) of the Count metric `name` with `dimensions`."""
    if not name or not isinstance(value, Real) or isinstance(value, bool):
        raise ValueError(f"a metric needs a name and a number: {name!r}={value!r}")
    dims = tuple(sorted((k, str(v)) for k, v in dimensions.items()))
    with _lock:
        _pending.append((name, float(value), dims))


def pending() -> int:
    with _lock:
        return len(_pending)


def flush() -> int:
    """Prints what `count` noted as EMF lines, one per set of dimensions (none if nothing
    was noted; none either with POWERTOOLS_METRICS_DISABLED); answers how many sets."""
    with _lock:
        noted = _pending[:]
        _pending.clear()
    if not noted:
        return 0
    # Powertools only once there is something to print: no cost on the common path.
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    from chalicelib.core.settings import get_settings

    groups: dict[tuple[tuple[str, str], ...], list[tuple[str, float]]] = {}
    for name, value, dims in noted:
        groups.setdefault(dims, []).append((name, value))
    stage = get_settings().stage
    for dims, values in groups.items():
        # Fresh sets for each line: Powertools' Metrics class shares one set per process.
        emf = AmazonCloudWatchEMFProvider(metric_set={}, dimension_set={}, namespace=NAMESPACE,
                                          service=SERVICE)
        emf.add_dimension("stage", stage)
        for key, val in dims:
            emf.add_dimension(key, val)
        for name, value in values:
            emf.add_metric(name=name, unit="Count", value=value)
        emf.flush_metrics(raise_on_empty_metrics=True)
    return len(groups)


def flush_metrics() -> None:
    """`flush`, with a failure logged, never raised: metrics must not fail the work they
    describe."""
    try:
        flush()
    except Exception:  # noqa: BLE001
        # The service's logger by name (core.logging's Powertools Logger writes through
        # it): core.logging imports this module, so this one must not import it.
        logging.getLogger(SERVICE).exception("metrics not flushed")
