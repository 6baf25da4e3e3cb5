"""DynamoDB transactions that cost what they touch."""

from __future__ import annotations

from typing import Any

from devstack.moto_patches.registry import replace


def apply() -> None:
    """moto's TransactWriteItems deep-copies every table it touches before it starts (its
    rollback), so each transaction costs as much as the whole table: the local stack's
    writes, all transactional (the outbox), slowed to seconds after a few thousand
    requests. This one checks every condition against the state before the transaction
    (as DynamoDB does), and only then writes, keeping just the touched items for the
    rollback of an invalid update. DynamoDB calls are serialized (emulator.py), so
    nothing interleaves."""
    import copy

    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        ops: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = []
        seen: set[tuple[str, str]] = set()
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            ident = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if ident in seen:
                raise MultipleTransactionsException()
            seen.add(ident)
            ops.append((op_type, op, table, key))
        errors: list[tuple[str | None, str | None, Any]] = []
        for op_type, op, _table, key in ops:
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                errors.append(("ValidationException", "Unsupported operation", None))
                continue
            current = self.get_item(op["TableName"], key)
            cond = op.get("ConditionExpression")
            if cond is not None and not get_filter_expression(
                    cond, op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues")).expr(current):
                old = (current.to_json()["Attributes"] if current and op.get(
                    "ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None)
                errors.append(("ConditionalCheckFailed", "The conditional request failed",
                               old))
            else:
                errors.append((None, None, None))
        if any(code for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        before = [(table, key, copy.deepcopy(self.get_item(op["TableName"], key)))
                  for op_type, op, table, key in ops if op_type != "ConditionCheck"]
        try:
            for op_type, op, _table, key in ops:
                names, values = op.get("ExpressionAttributeNames"), op.get(
                    "ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(op["TableName"], op["Item"],
                                  expression_attribute_names=names,
                                  expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(op["TableName"], key)
                elif op_type == "Update":
                    self.update_item(op["TableName"], key,
                                     update_expression=op["UpdateExpression"],
                                     expression_attribute_names=names,
                                     expression_attribute_values=values)
        except Exception:  # e.g. an update invalid for the item: undo, then pass it on
            for table, key, item in before:  # put back what was there, or nothing
                if item is not None:
                    table.put_item(item.to_json()["Attributes"])
                else:
                    from moto.dynamodb.models.dynamo_type import DynamoType

                    rng = (DynamoType(key[table.range_key_attr])
                           if table.range_key_attr is not None else None)
                    table.delete_item(DynamoType(key[table.hash_key_attr]), rng)
            raise

    replace(DynamoDBBackend, "transact_write_items", transact_write_items)
