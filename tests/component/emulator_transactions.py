"""Run in a process of its own (the unit tests' in-process moto mock would intercept the
calls): TransactWriteItems against the local stack's emulator, whose transactions check
every condition first and roll back only the items they touched. Prints JSON."""

from __future__ import annotations

import json
from typing import Any


def run() -> dict[str, Any]:
    from botocore.exceptions import ClientError

    from chalicelib.store import table as store
    from devstack.emulator import provisioned

    out: dict[str, Any] = {}
    with provisioned("txn"):
        def get(pk: str) -> Any:
            return store.get(pk, "T", consistent=True)

        store.transact([{"Put": {"Item": {"PK": "A", "SK": "T", "n": "text"}}},
                        {"Put": {"Item": {"PK": "B", "SK": "T", "n": 1}}}])
        out["both_written"] = bool(get("A")) and bool(get("B"))
        try:  # the second op's condition fails: nothing is written
            store.transact([
                {"Put": {"Item": {"PK": "C", "SK": "T"}}},
                {"ConditionCheck": {"Key": {"PK": "A", "SK": "T"},
                                    "ConditionExpression": "attribute_not_exists(PK)"}},
                {"Update": {"Key": {"PK": "B", "SK": "T"}, "UpdateExpression": "SET n = :two",
                            "ExpressionAttributeValues": {":two": 2}}}])
            out["reasons"] = None
        except store.TransactionConflict as exc:
            out["reasons"] = exc.reasons
        out["c_absent"] = get("C") is None
        out["b_after_cancel"] = (get("B") or {}).get("n")
        try:  # the update is invalid for the item (adding to text): what came before is undone
            store.transact([
                {"Put": {"Item": {"PK": "D", "SK": "T"}}},
                {"Put": {"Item": {"PK": "B", "SK": "T", "n": 5}}},
                {"Update": {"Key": {"PK": "A", "SK": "T"}, "UpdateExpression": "SET n = n + :one",
                            "ExpressionAttributeValues": {":one": 1}}}])
            out["invalid_error"] = None
        except ClientError as exc:
            out["invalid_error"] = exc.response["Error"]["Code"]
        out["d_absent"] = get("D") is None
        out["b_restored"] = (get("B") or {}).get("n")
        out["a_unchanged"] = (get("A") or {}).get("n")
    return out


if __name__ == "__main__":
    print(json.dumps(run()))
