"""DynamoDB's data-plane answers as plain JSON, or handed over in-process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from devstack.moto_patches.registry import replace

# Operations whose answer moto builds as the wire's JSON already (attribute values in
# DynamoDB's typed form): moto's generic serializer walks the output model member by
# member (for a page of 100 items, some 50,000 lookups) to write the same thing.
DATA_PLANE = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                        "BatchGetItem", "BatchWriteItem", "TransactGetItems",
                        "TransactWriteItems"})


def _json_default(value: Any) -> Any:
    import base64
    from decimal import Decimal

    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


_kept = threading.local()


@contextmanager
def answers_kept() -> Iterator[list[dict[str, Any]]]:
    """Within, on this thread, a DynamoDB data-plane answer is not written as JSON at
    all: moto's result is kept in the list yielded, already as botocore would parse it
    (binary values as bytes, every container built for this answer), and the body left
    empty. For a caller in this process that would only parse the JSON back."""
    kept: list[dict[str, Any]] = []
    _kept.results = kept
    try:
        yield kept
    finally:
        _kept.results = None


def apply() -> None:
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    real = DynamoHandler.serialized

    def serialized(self: Any, action_result: Any) -> Any:
        result = action_result.result
        if not isinstance(result, dict) or self._get_action() not in DATA_PLANE:
            return real(self, action_result)
        headers = {"Content-Type": "application/x-amz-json-1.0", **self.response_headers}
        kept = getattr(_kept, "results", None)
        # Only a DynamoResult is built afresh (dynamo_to_dict) and safe to hand over.
        if kept is not None and isinstance(action_result, DynamoResult):
            kept.append(result)
            return 200, headers, ""
        return 200, headers, json.dumps(result, default=_json_default)

    replace(DynamoHandler, "serialized", serialized)
