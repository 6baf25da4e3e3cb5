"""moto's hot paths, made to cost what they touch. Under the mixed load (bench/mixedload.py)
the local stack spent over half its CPU inside moto once the HTTP hop was gone
(devstack/inprocess.py): sorting the whole table for every query, a generic
model-walking serializer, expressions parsed twice per call and deep-copied, every SQS
queue attribute computed to read one. Each module here keeps what moto answers and
changes only what it costs; tests/component/test_emulator.py runs the same calls with
and without them and compares. Applied once per process (`apply`), by the emulator and
the in-process dispatch; the pinned moto version (requirements-dev.txt) is the one
they patch.
"""

from __future__ import annotations

import threading

from devstack.moto_patches.answers import answers_kept
from devstack.moto_patches.registry import moto_as_shipped

__all__ = ["answers_kept", "apply", "moto_as_shipped"]

_applied = False
_apply_lock = threading.Lock()


def apply() -> None:
    global _applied
    from devstack.moto_patches import answers, dispatch, expressions, queries, transactions

    with _apply_lock:
        if _applied:
            return
        transactions.apply()
        queries.apply()
        answers.apply()
        expressions.parsed_once()
        expressions.trees_copied_plainly()
        dispatch.retention_read_directly()
        dispatch.send_reads_one_attribute()
        dispatch.cached_method_names()
        _applied = True
