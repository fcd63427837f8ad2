"""DynamoDB capacity as DynamoDB would bill it, measured in the emulator from
the items themselves (moto reports a constant ``ConsumedCapacity``).

On-demand billing, per request:

- a write (PutItem, UpdateItem, DeleteItem, each BatchWriteItem request) costs
  one write request unit per started KB of the larger of the item before and
  after it; a transactional write (each TransactWriteItems entry, a
  ConditionCheck included) costs two per KB. A write whose condition fails
  costs the same as one that succeeds;
- a read costs one read request unit per started 4 KB when strongly
  consistent, half when eventually consistent, two in a transaction
  (TransactGetItems); GetItem and each BatchGetItem key are rounded per item
  (an absent item still costs one unit), a Query or Scan once over the total
  size of the items it returns.

A global secondary index bills its own writes (``indexWru``, included in
``wru``), at one unit per started KB of the projected item, never doubled by
a transaction: an item entering the index is a put, one leaving it a delete,
one whose index key changes both, one whose projection changes an update;
a write that changes nothing the index holds costs it nothing.

What it does not see: the items a Query or Scan filter drops (DynamoDB bills
them, this does not). The counters live in the emulator's process;
``GET /_devstack/dynamodb/capacity`` reads them per table, ``POST`` to it
resets them.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

CAPACITY_ROUTE = "/_devstack/dynamodb/capacity"
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
# Errors after which DynamoDB has done the work (and bills it).
_BILLED_FAILURES = frozenset({"ConditionalCheckFailed", "TransactionCanceledException"})

_lock = threading.Lock()
_tables: dict[str, dict[str, float]] = {}
_patched = False


def units(size: int, unit: int) -> int:
    """Request units of an item of ``size`` bytes: every started unit, at least one."""
    return max(1, math.ceil(size / unit))


def _add(table: str, **amounts: float) -> None:
    with _lock:
        row = _tables.setdefault(
            table,
            {"wru": 0.0, "indexWru": 0.0, "rru": 0.0, "writes": 0, "reads": 0, "bytesWritten": 0},
        )
        for name, value in amounts.items():
            row[name] += value


def snapshot() -> dict[str, dict[str, float]]:
    with _lock:
        return {name: dict(row) for name, row in sorted(_tables.items())}


def reset() -> None:
    with _lock:
        _tables.clear()


def _item(backend: Any, table: str, key: dict[str, Any]) -> Any:
    try:
        return backend.get_item(table, key)
    except Exception:  # noqa: BLE001 - a malformed key: the request fails anyway
        return None


def _size(backend: Any, table: str, key: dict[str, Any]) -> int:
    item = _item(backend, table, key)
    return int(item.size()) if item is not None else 0


def index_units(indexes: list[Any], old: Any, new: Any) -> int:
    """Write units the table's global secondary indexes bill for a write that
    turned item ``old`` into ``new`` (either may be None)."""
    total = 0
    for index in indexes:
        keys = index.schema_key_attrs
        was = old is not None and all(k in old.attrs for k in keys)
        now = new is not None and all(k in new.attrs for k in keys)
        before = index.project(old) if was else None
        after = index.project(new) if now else None
        if before is not None and after is not None:
            if any(old.attrs[k] != new.attrs[k] for k in keys):
                total += units(before.size(), WRITE_UNIT_BYTES)  # out of its old place
                total += units(after.size(), WRITE_UNIT_BYTES)  # into its new one
            elif before.attrs != after.attrs:
                total += units(max(before.size(), after.size()), WRITE_UNIT_BYTES)
        elif after is not None:
            total += units(after.size(), WRITE_UNIT_BYTES)
        elif before is not None:
            total += units(before.size(), WRITE_UNIT_BYTES)
    return total


def _key(backend: Any, table: str, item: dict[str, Any]) -> dict[str, Any]:
    schema = backend.get_table(table)
    key = {schema.hash_key_attr: item[schema.hash_key_attr]}
    if schema.range_key_attr is not None:
        key[schema.range_key_attr] = item[schema.range_key_attr]
    return key


def _billed(exc: BaseException) -> bool:
    return type(exc).__name__ in _BILLED_FAILURES or any(
        name in str(getattr(exc, "error_type", "")) for name in _BILLED_FAILURES
    )


@contextmanager
def _writes(backend: Any, targets: list[tuple[str, dict[str, Any], int]]) -> Iterator[None]:
    """Bill ``targets`` (table, key, factor) by their size before and after,
    and their tables' global secondary indexes by what changed in them."""
    # Copies: moto may change an item in place.
    before = [copy.deepcopy(_item(backend, table, key)) for table, key, _ in targets]
    try:
        yield
    except Exception as exc:
        if _billed(exc):
            for (table, _, factor), old in zip(targets, before, strict=True):
                size = old.size() if old is not None else 0
                _add(table, wru=factor * units(size, WRITE_UNIT_BYTES), writes=1)
        raise
    for (table, key, factor), old in zip(targets, before, strict=True):
        new = _item(backend, table, key)
        old_size = old.size() if old is not None else 0
        new_size = new.size() if new is not None else 0
        try:
            indexes = list(backend.get_table(table).global_indexes or [])
        except Exception:  # noqa: BLE001
            indexes = []
        index = index_units(indexes, old, new)
        _add(
            table,
            wru=factor * units(max(old_size, new_size), WRITE_UNIT_BYTES) + index,
            indexWru=index,
            writes=1,
            bytesWritten=new_size,
        )


def _write_targets(handler: Any, operation: str) -> list[tuple[str, dict[str, Any], int]]:
    body, backend = handler.body, handler.dynamodb_backend
    try:
        if operation == "put_item":
            return [(body["TableName"], _key(backend, body["TableName"], body["Item"]), 1)]
        if operation in ("update_item", "delete_item"):
            return [(body["TableName"], dict(body["Key"]), 1)]
        if operation == "batch_write_item":
            out = []
            for table, requests in body["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        out.append((table, _key(backend, table, request["PutRequest"]["Item"]), 1))
                    else:
                        out.append((table, dict(request["DeleteRequest"]["Key"]), 1))
            return out
        out = []
        for entry in body["TransactItems"]:
            ((kind, op),) = entry.items()
            table = op["TableName"]
            key = _key(backend, table, op["Item"]) if kind == "Put" else dict(op["Key"])
            out.append((table, key, 2))
        return out
    except Exception:  # noqa: BLE001 - malformed or unknown table: moto answers the error
        return []


def _bill_reads(handler: Any, operation: str, result: Any) -> None:
    body, backend = handler.body, handler.dynamodb_backend
    factor = 1.0 if body.get("ConsistentRead") else 0.5
    if operation == "get_item":
        size = _size(backend, body["TableName"], dict(body["Key"]))
        _add(body["TableName"], rru=factor * units(size, READ_UNIT_BYTES), reads=1)
    elif operation == "batch_get_item":
        for table, spec in body["RequestItems"].items():
            per = 1.0 if spec.get("ConsistentRead") else 0.5
            for key in spec["Keys"]:
                size = _size(backend, table, dict(key))
                _add(table, rru=per * units(size, READ_UNIT_BYTES), reads=1)
    elif operation == "transact_get_items":
        for entry in body["TransactItems"]:
            op = entry["Get"]
            size = _size(backend, op["TableName"], dict(op["Key"]))
            _add(op["TableName"], rru=2 * units(size, READ_UNIT_BYTES), reads=1)
    else:  # query, scan: the whole items they return, rounded once
        table = body["TableName"]
        returned = getattr(result, "result", None)
        items = returned.get("Items", []) if isinstance(returned, dict) else []
        total = sum(_size(backend, table, _key(backend, table, item)) for item in items)
        _add(table, rru=factor * units(total, READ_UNIT_BYTES), reads=1)


_WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")
_READS = ("get_item", "batch_get_item", "transact_get_items", "query", "scan")


def _writing(original: Callable[[Any], Any], operation: str) -> Callable[[Any], Any]:
    def method(self: Any) -> Any:
        with _writes(self.dynamodb_backend, _write_targets(self, operation)):
            return original(self)

    return method


def _reading(original: Callable[[Any], Any], operation: str) -> Callable[[Any], Any]:
    def method(self: Any) -> Any:
        result = original(self)
        with contextlib.suppress(Exception):  # counting never breaks a read
            _bill_reads(self, operation, result)
        return result

    return method


def count_capacity() -> None:
    """Patch moto's DynamoDB handler to bill every request (idempotent)."""
    global _patched
    if _patched:
        return
    from moto.dynamodb.responses import DynamoHandler

    for name in _WRITES:
        setattr(DynamoHandler, name, _writing(getattr(DynamoHandler, name), name))
    for name in _READS:
        setattr(DynamoHandler, name, _reading(getattr(DynamoHandler, name), name))
    _patched = True


def with_capacity_route(app: Any) -> Any:
    """``app`` with ``GET /_devstack/dynamodb/capacity`` (``{"tables": {name:
    {"wru", "rru", "writes", "reads", "bytesWritten"}}}``) and ``POST`` to reset."""

    def call(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != CAPACITY_ROUTE:
            return app(environ, start_response)
        if environ.get("REQUEST_METHOD") == "POST":
            reset()
        body = json.dumps({"tables": snapshot()}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return call
