"""Make moto's DynamoDB transactions cost what they touch, and its
EventBridge replays honour their window and rules (see ``replay_events``).

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
import json
from typing import Any

_patched = False

Plan = list[tuple[str, dict[str, Any], dict[str, Any]]]


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _check_one(backend: Any, op: dict[str, Any], key: dict[str, Any]) -> None:
    """Raise ConditionalCheckFailed (with the item, when asked) if ``op``'s
    condition does not hold on the current item."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import ConditionalCheckFailed

    current = backend.get_item(op["TableName"], key)  # also: the table exists
    condition = op.get("ConditionExpression")
    if condition is None:
        return
    check = get_filter_expression(
        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    )
    if not check.expr(current):
        original = None
        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
            original = current.to_json()["Attributes"]
        failed = ConditionalCheckFailed(item=original)
        failed.failed_item = original  # type: ignore[attr-defined]
        raise failed


def _check(backend: Any, transact_items: list[dict[str, Any]]) -> Plan:
    """Every item's condition, before anything is written: the plan to apply,
    or TransactionCanceledException with one outcome per item, as moto reports."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    outcomes: list[tuple[Any, Any, Any]] = []
    plan: Plan = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        try:
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            key = _key_of(backend, op_type, op)
            marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            _check_one(backend, op, key)
            plan.append((op_type, op, key))
            outcomes.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as exc:
            outcomes.append(
                ("ConditionalCheckFailed", str(exc.message), getattr(exc, "failed_item", None))
            )
        except Exception as exc:  # noqa: BLE001 - reported per item, as moto does
            outcomes.append((type(exc).__name__, str(exc), None))
    if any(code is not None for code, _, _ in outcomes):
        raise TransactionCanceledException(outcomes)
    return plan


def _write(backend: Any, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    table_name = op["TableName"]
    if op_type == "Put":
        backend.put_item(
            table_name,
            op["Item"],
            expression_attribute_names=names,
            expression_attribute_values=values,
        )
    elif op_type == "Delete":
        backend.delete_item(
            table_name, key, expression_attribute_names=names, expression_attribute_values=values
        )
    elif op_type == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=names,
            expression_attribute_values=values,
        )


def _apply(backend: Any, plan: Plan) -> None:
    """Apply every write; if one fails, put back the items touched so far and
    their stream records, then raise."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    applied: list[tuple[Any, dict[str, Any], Any, int | None]] = []
    try:
        for op_type, op, key in plan:
            table = backend.get_table(op["TableName"])
            shard = table.stream_shard
            before = copy.deepcopy(backend.get_item(op["TableName"], key))
            applied.append((table, key, before, len(shard.items) if shard is not None else None))
            _write(backend, op_type, op, key)
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


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """DynamoDBBackend.transact_write_items: check all, then apply all."""
    _apply(self, _check(self, transact_items))


def patch_transactions() -> None:
    global _patched
    if _patched:
        return
    from moto.dynamodb import models

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _patched = True


# --- EventBridge replays ----------------------------------------------------------

_replays_patched = False


def replay_events(self: Any, archive: Any) -> None:
    """moto's ``Replay.replay_events`` as EventBridge replays: only the events
    archived in ``[EventStartTime, EventEndTime)``, only to the rules named by
    the destination's ``FilterArns`` (every rule of the bus when it names
    none), each event marked with the replay's name (which keeps it out of
    the archive again)."""
    from moto.core.utils import unix_time
    from moto.events import models
    from moto.moto_api._internal import mock_random

    backend = models.events_backends[self.account_id][self.region]
    bus = backend.describe_event_bus(self.destination["Arn"].split("/")[-1])
    start, end = float(self.event_start_time), float(self.event_end_time)
    only = set(self.destination.get("FilterArns") or [])
    rules = [r for r in list(bus.rules.values()) if not only or r.arn in only]
    for event in list(archive.events):
        if not start <= float(event.get("time", 0)) < end:
            continue
        replayed = dict(event, **{"id": str(mock_random.uuid4()), "replay-name": self.name})
        for rule in rules:
            rule.send_to_targets(replayed, transform_input=False)  # type: ignore[arg-type]
    self.state = models.ReplayState.COMPLETED
    self.end_time = unix_time()


def patch_replays() -> None:
    global _replays_patched
    if _replays_patched:
        return
    from moto.events import models

    models.Replay.replay_events = replay_events  # type: ignore[method-assign]
    _replays_patched = True


# --- what each EventBridge rule delivered ----------------------------------------

RULES_ROUTE = "/_devstack/events/rules"
_matched: dict[str, int] = {}
_rules_counted = False


def count_rule_deliveries() -> None:
    """Count, per rule ARN, the events each rule matched and sent to its
    targets (live or replayed): ``GET /_devstack/events/rules`` reads them."""
    global _rules_counted
    if _rules_counted:
        return
    from moto.events import models

    original = models.Rule.send_to_targets

    def send_to_targets(self: Any, event: Any, transform_input: bool = True) -> None:
        if self.event_pattern.matches_event(event):
            _matched[self.arn] = _matched.get(self.arn, 0) + 1
        original(self, event, transform_input)

    models.Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]
    _rules_counted = True


def with_rules_route(app: Any) -> Any:
    """``app`` with ``GET /_devstack/events/rules``: ``{"matched": {ruleArn: n}}``."""

    def call(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != RULES_ROUTE:
            return app(environ, start_response)
        body = json.dumps({"matched": dict(_matched)}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return call


BACKLOG_ROUTE = "/_devstack/backlog"


def with_backlog_route(app: Any) -> Any:
    """``app`` with ``GET /_devstack/backlog``: where work waits, for every
    queue and stream at one instant (read under the emulator's lock)::

        {"queues": {"<account>/<name>": [delayed, in flight, visible]},
         "streams": {"<table>": {"<shardId>": last sequence number, or -1}}}

    The drain asks it once instead of asking every source (a
    GetQueueAttributes per queue, and every poller to look again)."""

    def call(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != BACKLOG_ROUTE:
            return app(environ, start_response)
        from moto.dynamodb.models import dynamodb_backends
        from moto.sqs.models import sqs_backends

        queues: dict[str, list[int]] = {}
        for account, regions in list(sqs_backends.items()):
            for backend in list(regions.values()):
                for name, queue in list(backend.queues.items()):
                    # Time only moves messages towards visible: visible last
                    # counts a message that moves meanwhile at least once.
                    queues[f"{account}/{name}"] = [
                        queue.approximate_number_of_messages_delayed,
                        queue.approximate_number_of_messages_not_visible,
                        queue.approximate_number_of_messages,
                    ]
        streams: dict[str, dict[str, int]] = {}
        for tables in list(dynamodb_backends.values()):
            for dynamodb in list(tables.values()):
                for name, table in list(dynamodb.tables.items()):
                    shard = getattr(table, "stream_shard", None)
                    if shard is not None:
                        last = shard.starting_sequence_number + len(shard.items) - 1
                        streams[name] = {shard.id: last if shard.items else -1}
        body = json.dumps({"queues": queues, "streams": streams}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return call


def speed_up_dispatch() -> None:
    """Lookups moto's server repeats on every request, done once: the list of
    its service packages (a directory listing and a stat per package, to ask
    whether the Host names a service) and a response class's method names
    (``inspect.getmembers``, to ask whether the action is one): neither
    changes while the process runs, and together they were a fifth of a
    PutItem's time. And ``camelcase_to_underscores``, a pure function of its
    string, which an SQS queue's attributes call a character loop for, for
    every attribute, at every GetQueueAttributes (the drain's backlog
    question): it was the emulator's largest single cost over a run of
    orders."""

    from moto import backends
    from moto.core import responses

    if getattr(backends.list_of_moto_modules, "devstack", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules.devstack = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]
    # Looked up by name: moto.core.responses imports it without re-exporting.
    original = getattr(responses, "method_names_from_class")  # noqa: B009
    names: dict[tuple[Any, ...], list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        # Keyed by how many attributes each class of its MRO has: a patch that
        # adds an action (devstack.sqs_moves) changes the key.
        key = (clazz, *(len(vars(c)) for c in clazz.__mro__))
        if key not in names:
            names[key] = original(clazz)
        return names[key]

    setattr(responses, "method_names_from_class", method_names_from_class)  # noqa: B010
    _cache_everywhere("moto.core.utils", "camelcase_to_underscores")


def _cache_everywhere(module_name: str, name: str) -> None:
    """Replace the pure function ``module_name.name`` by a cached one, in its
    module (for the modules imported later) and in every moto module that
    already imported it by name."""
    import functools
    import sys

    original = getattr(sys.modules[module_name], name)
    cached = functools.lru_cache(maxsize=4096)(original)
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("moto") and (
            getattr(module, name, None) is original
        ):
            setattr(module, name, cached)


def patch_item_size_checks() -> None:
    """An item's attribute map (moto's ``LimitedSizeDict``) re-measures every
    attribute it holds each time one is set, to keep DynamoDB's 400 KB limit:
    building an item of n attributes measures O(n^2) of them, each measure
    walking nested maps and lists (an order's record holds its whole history).
    A new item is measured once instead, with the same limit and error; an
    update that sets one attribute keeps moto's check. And the map pickles as
    a plain dict, loaded without the check (``devstack.persist``: every item
    of a snapshot was checked when it was written)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import dynamo_type
    from moto.dynamodb.models.utilities import bytesize

    if getattr(dynamo_type.Item, "_devstack_sized", False):
        return
    limited = dynamo_type.LimitedSizeDict
    dynamo = dynamo_type.DynamoType

    def size_of(key: str, value: Any) -> int:
        measured = value.size() if type(value) is dynamo else bytesize(str(value))
        return bytesize(key) + measured

    def item_init(self: Any, hash_key: Any, range_key: Any, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {key: dynamo(value) for key, value in attrs.items()}
        # moto's limit, as LimitedSizeDict.__setitem__ sets it (405,000 bytes).
        if sum(size_of(k, v) for k, v in values.items()) > 405000:
            raise ItemSizeTooLarge
        self.attrs = limited.__new__(limited)
        dict.update(self.attrs, values)  # dict's own update: no per-key re-measure

    def reduce(self: Any) -> Any:
        return (_limited_size_dict, (dict(self),))

    dynamo_type.Item.__init__ = item_init  # type: ignore[method-assign]
    limited.__reduce__ = reduce  # type: ignore[method-assign,assignment]
    limited.__reduce_ex__ = lambda self, protocol: reduce(self)  # type: ignore[method-assign,assignment]
    dynamo_type.Item._devstack_sized = True  # type: ignore[attr-defined]


def _limited_size_dict(values: dict[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    restored = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(restored, values)
    return restored


_COUNTS = frozenset(
    {
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    }
)


def speed_up_sqs_and_rules() -> None:
    """What moto recomputes per message, computed once (a profile of the
    emulator over 200 concurrent orders: these were half its time).

    - An SQS queue's ``attributes`` counts every message it holds, three
      times over (visible, delayed, in flight), each message asking the
      clock; moto builds it for a single attribute: three times per
      GetQueueAttributes of one name, once per SendMessage (to read
      ``ContentBasedDeduplication``) and once per message received (to read
      the retention period). Now: sending builds it without the counts (it
      reads none), a GetQueueAttributes builds it once, and a receive reads
      the retention period itself.
    - The clock moto's SQS asks (``unix_time``: a naive UTC datetime minus the
      epoch) is ``time.time()``, the same number (and the clock time-machine
      freezes for a replay, as it freezes datetime's).
    - An EventBridge target's input path (``$.detail``...) is parsed by a new
      PLY parser, tables and all, for every event delivered: parsed once per
      path (a parsed path is not changed by ``find``)."""
    import functools
    import threading
    import time

    import jsonpath_ng.ext
    from moto.sqs import models as sqs

    if getattr(sqs.Queue, "_devstack_fast", False):
        return
    local = threading.local()

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else float(original_unix_time(dt))

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    # By name: moto.sqs.models imports them without re-exporting.
    original_unix_time = getattr(sqs, "unix_time")  # noqa: B009
    setattr(sqs, "unix_time", unix_time)  # noqa: B010
    setattr(sqs, "unix_time_millis", unix_time_millis)  # noqa: B010

    built = sqs.Queue.attributes.fget  # type: ignore[attr-defined]

    def attributes(self: Any) -> dict[str, Any]:
        memo: dict[int, dict[str, Any]] | None = getattr(local, "memo", None)
        if memo is not None and id(self) in memo:
            return memo[id(self)]
        if getattr(local, "without_counts", False):
            # An instance attribute shadows the class's list for this one call.
            self.BASE_ATTRIBUTES = [a for a in type(self).BASE_ATTRIBUTES if a not in _COUNTS]
            try:
                result: dict[str, Any] = built(self)
            finally:
                del self.BASE_ATTRIBUTES
        else:
            result = built(self)
        if memo is not None:
            memo[id(self)] = result
        return result

    def within(flag: str, method: Any) -> Any:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            if getattr(local, flag, None) is not None:
                return method(*args, **kwargs)
            setattr(local, flag, {} if flag == "memo" else True)
            try:
                return method(*args, **kwargs)
            finally:
                setattr(local, flag, None)

        return call

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        queue = self.get_queue(queue_name)
        retain_until = int(queue.message_retention_period) + message.sent_timestamp / 1000
        return bool(retain_until > unix_time())

    sqs.Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    backend = sqs.SQSBackend
    backend.send_message = within("without_counts", backend.send_message)  # type: ignore[method-assign]
    backend.get_queue_attributes = within("memo", backend.get_queue_attributes)  # type: ignore[method-assign]
    backend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )
    parse = functools.lru_cache(maxsize=1024)(getattr(jsonpath_ng.ext, "parse"))  # noqa: B009
    setattr(jsonpath_ng.ext, "parse", parse)  # noqa: B010
    _write_stream_records_directly()
    sqs.Queue._devstack_fast = True  # type: ignore[attr-defined]


def _write_stream_records_directly() -> None:
    """GetRecords answers with its records as JSON text, converted as moto's
    serializer converts them (binary values as base64, the creation time as
    epoch seconds truncated to the millisecond): a stream record is already
    in DynamoDB's wire shape, and moto's generic serializer walked every
    attribute of every image against the API's shapes, nested maps and lists
    of an order's history included (a sixth of the emulator's time)."""
    import base64
    import calendar
    from datetime import datetime

    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    def convert(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(value).decode("ascii")
        if isinstance(value, datetime):
            seconds = calendar.timegm(value.utctimetuple())
            return seconds + (value.microsecond // 1000) / 1000.0 if value.microsecond else seconds
        raise TypeError(f"{type(value).__name__} is not in a stream record")

    def get_records(self: Any) -> str:
        limit = self._get_param("Limit")
        result = self.backend.get_records(
            self._get_param("ShardIterator"), 1000 if limit is None else limit
        )
        self.response_headers["Content-Type"] = "application/x-amz-json-1.0"
        return json.dumps(result, default=convert)

    get_records.moto = DynamoDBStreamsHandler.get_records  # type: ignore[attr-defined]
    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign,assignment]
