"""Make moto's DynamoDB transactions cost what they touch.

moto 5.2 backs up every table a transaction names with ``copy.deepcopy``
(items, indexes and stream records) before applying it, so each transaction
costs O(table size) and a drill of a few hundred orders slows to a crawl.
DynamoDB's own semantics allow a cheaper equivalent: the items of one
transaction are distinct, so checking every condition first and then applying
every write gives the same result with nothing to roll back. A write that
still fails while applying (a type error in an update expression) restores
the items touched so far and their stream records.
"""

from __future__ import annotations

import copy
from typing import Any

_patched = False


def patch_transactions() -> None:
    global _patched
    if _patched:
        return
    from moto.dynamodb import models
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen: set[tuple[str, str]] = set()
        outcomes: list[tuple[Any, Any, Any]] = []
        plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            original_item = None
            try:
                op_type, op = next(iter(entry.items()))
                if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                if op_type == "Put":
                    table = self.get_table(table_name)
                    attrs = op["Item"]
                    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                    if table.range_key_attr is not None:
                        key[table.range_key_attr] = attrs[table.range_key_attr]
                else:
                    key = op["Key"]
                marker = (str(table_name), str(dict(sorted(key.items()))))
                if marker in seen:
                    raise MultipleTransactionsException()
                seen.add(marker)
                current = self.get_item(table_name, key)
                condition = op.get("ConditionExpression")
                if condition is not None:
                    check = get_filter_expression(
                        condition,
                        op.get("ExpressionAttributeNames"),
                        op.get("ExpressionAttributeValues"),
                    )
                    if not check.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            original_item = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=original_item)
                plan.append((op_type, op, key))
                outcomes.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise
            except ConditionalCheckFailed as exc:
                outcomes.append(("ConditionalCheckFailed", str(exc.message), original_item))
            except Exception as exc:  # noqa: BLE001 - reported per item, as moto does
                outcomes.append((type(exc).__name__, str(exc), original_item))
        if any(code is not None for code, _, _ in outcomes):
            raise TransactionCanceledException(outcomes)

        applied: list[tuple[Any, dict[str, Any], Any, int | None]] = []
        try:
            for op_type, op, key in plan:
                table = self.get_table(op["TableName"])
                shard = table.stream_shard
                before = self.get_item(op["TableName"], key)
                applied.append(
                    (
                        table,
                        key,
                        copy.deepcopy(before),
                        len(shard.items) if shard is not None else None,
                    )
                )
                names, values = (
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if op_type == "Put":
                    self.put_item(
                        op["TableName"],
                        op["Item"],
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        op["TableName"],
                        key,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        op["TableName"],
                        key,
                        update_expression=op["UpdateExpression"],
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
        except Exception:
            for table, key, before, stream_len in reversed(applied):
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                table.delete_item(hash_key, range_key)
                if before is not None:
                    table.put_item(before.to_json()["Attributes"])
                if stream_len is not None:
                    del table.stream_shard.items[stream_len:]
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _patched = True
