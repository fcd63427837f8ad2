"""Where orders live: the role (``OrderRepository``) and its DynamoDB implementation.

One table, keyed ``pk``/``sk``:
- ``ORDER#id / ORDER``: the order's record (``orders.record``): its state and
  its whole history in one item, the payment token until the payment is
  settled. Indexed by customer on ``gsi1`` (``customerId``, ``createdAt``:
  newest first), by placement time on ``gsi3`` (``allShard``,
  ``createdAt``: the admins' listing of every order and the saga-timeout
  sweep's look at each order as it reaches the timeout's age: ``aged``),
  and on the sparse ``gsi2`` (``openShard``, ``createdAt``) once that look
  found it still open, until it is terminal (the orders the sweep watches:
  ``open_before``). The indexes project keys only: a status change
  rewrites none, so it costs the indexes nothing (an order enters ``gsi1``
  and ``gsi3`` once; only an order still open at the timeout's age ever
  enters ``gsi2``). ``gsi3`` is sharded: a listing merges its shards newest
  first (``_Walk``), and a status-filtered one keeps the orders in that
  status of at most ``FILTERED_READS`` it reads (``gsi1`` for one customer);
- ``SWEEP / MARKS``: per shard of ``gsi3``, the index key of the last
  order the sweep looked at (``aged``; every one before it was), only ever
  moved forward;
- ``IDEMPOTENCY#customer#hash``: what an ``Idempotency-Key`` created (TTL 24 h);
- ``ORDER#id / NOTIFIED``: the customer notifications already sent (its
  ``sent`` set: one conditional update marks every milestone of the order a
  batch carries); TTL'd (``expiresAt``, 30 days after the first) like the
  idempotency keys.
A status change is ONE conditional write of the record (on the expected
status and version) that sets the new state and appends the event, so the
state and its history can never disagree; the table's stream carries the
new event to the relay. A change that moves stock (StockReserved takes it,
StockReleased gives it back; a shipment moves none) is that same update in
ONE transaction with the catalog's stock updates (``joined``), so the order's
record is the reservation: its status and version make the
stock move exactly once, and no separate reservation item exists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from chalicelib.orders import record
from chalicelib.orders.model import Order, OrderEvent, OrderStatus
from chalicelib.orders.ports import (
    FILTERED_READS,
    IDEMPOTENCY_TTL_SECONDS,
    NOTIFIED_TTL_SECONDS,
    IdempotencyRecord,
    JointRefused,
    OrderRepository,
    Page,
)
from chalicelib.platform import aws, correlation, dynamo, errors

# IAM actions this module's own calls need (collected by tools.iam).
# TransactWriteItems is authorized per item: Put -> PutItem, Update ->
# UpdateItem (a joined item by the action of the context that made it,
# declared there: the catalog's stock moves are its UpdateItems). Scan serves only
# the operator's replay-orders (devstack), run with the operator's credentials.
AWS_CALLS = frozenset(
    {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
        "dynamodb:Scan",
    }
)

__all__ = [
    "IDEMPOTENCY_TTL_SECONDS",
    "DynamoOrderRepository",
    "IdempotencyRecord",
    "OrderRepository",
    "Page",
]

_FAILED = "ConditionalCheckFailed"
# The keys of a gsi1 page's LastEvaluatedKey: what a listing cursor must hold.
_GSI1_CURSOR = frozenset({"pk", "sk", "customerId", "createdAt"})
# A status-filtered page reads the orders of at least this many index keys at
# a time (fewer round trips for a small page; at most this many read unused).
_MIN_BATCH = 25
# A shard's place in a walk's cursor when it has nothing left.
_END = "end"
# The partitions of the index of every order (gsi3) and of the open ones (gsi2).
_ALL = [f"ALL#{n}" for n in range(record.ALL_SHARDS)]
_MARKS = {"pk": {"S": "SWEEP"}, "sk": {"S": "MARKS"}}
# The terminal statuses as the watch's condition names them.
_TERMINAL = {f":t{i}": {"S": str(s)} for i, s in enumerate(s for s in OrderStatus if s.terminal)}


def _idempotency_pk(customer_id: str, key_hash: str) -> str:
    return f"IDEMPOTENCY#{customer_id}#{key_hash}"


def _events_of(found: dict[str, Any]) -> list[OrderEvent]:
    return [event for event, _ in record.history(found)]


def _order_key(order_id: str) -> dict[str, Any]:
    return dynamo.to_item(record.key(order_id))


def _update(
    before: Order, done: record.Change, flow: str | None, *, new_flow: bool
) -> dict[str, Any]:
    """``done`` as one UpdateItem, on condition that the order is still
    ``before`` (status and version) and, unless it starts a new flow, that
    the record's last flow is the writer's (so its entries need none)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {
        ":new": dynamo.value(done.entries),
        ":was": {"S": str(before.status)},
        ":v": {"N": str(before.version)},
    }
    sets = ["history = list_append(history, :new)"]
    for i, (name, v) in enumerate(done.sets.items()):
        names[f"#s{i}"] = name
        values[f":s{i}"] = dynamo.value(v)
        sets.append(f"#s{i} = :s{i}")
    removes = []
    for i, name in enumerate(done.removes):
        names[f"#r{i}"] = name
        removes.append(f"#r{i}")
    names |= {"#status": "status", "#version": "version"}
    condition = "#status = :was AND #version = :v"
    if flow is not None and not new_flow:
        names["#flow"] = "flow"
        values[":flow"] = {"S": flow}
        condition += " AND #flow = :flow"
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return {
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _bad_cursor() -> errors.InvalidInput:
    return errors.InvalidInput("cursor is not valid for this listing")


@dataclass
class _Shard:
    """One partition of an index in a walk: its place in the cursor (None:
    from the newest; ``[createdAt, orderId]``: after that order; ``_END``),
    and the keys read from it and not taken yet."""

    value: str
    position: Any
    after: dict[str, Any] | None = None  # ExclusiveStartKey of its next Query
    more: bool = True
    keys: list[dict[str, Any]] = field(default_factory=list)


class _Walk:
    """The orders of the partitions ``values`` of a keys-only index (hash key
    ``name``, range key ``createdAt``), newest first, merged: each partition
    is read newest first, ``fetch`` keys a Query, and the newest of their
    next keys comes next. ``peek`` looks ahead, ``take`` moves on; the
    cursor holds each partition's place."""

    def __init__(
        self,
        repo: DynamoOrderRepository,
        index: str,
        name: str,
        values: list[str],
        start: dict[str, Any] | None,
        fetch: int,
    ) -> None:
        self.repo, self.index, self.name, self.fetch = repo, index, name, fetch
        # Which listing a cursor belongs to: one index's shards, or one customer.
        self.of = index if len(values) > 1 else f"{index}:{values[0]}"
        positions = self._positions(start, len(values))
        self.shards = [_Shard(v, p) for v, p in zip(values, positions, strict=True)]
        for shard in self.shards:
            if shard.position == _END:
                shard.more = False
            elif shard.position is not None:
                shard.after = self._key(shard.value, *shard.position)

    def _positions(self, start: dict[str, Any] | None, n: int) -> list[Any]:
        if start is None:
            return [None] * n
        positions = start.get("walk")
        if not (
            set(start) == {"of", "walk"}
            and start["of"] == self.of
            and isinstance(positions, list)
            and len(positions) == n
            and all(map(_position_ok, positions))
        ):
            raise _bad_cursor()
        return list(positions)

    def _key(self, value: str, created_at: str, order_id: str) -> dict[str, Any]:
        return {
            **_order_key(order_id),
            self.name: {"S": value},
            "createdAt": {"S": created_at},
        }

    def _fill(self, shard: _Shard, wanted: int) -> None:
        while len(shard.keys) < wanted and shard.more:
            kwargs: dict[str, Any] = {
                "TableName": self.repo.table,
                "IndexName": self.index,
                "Limit": self.fetch,
                "ScanIndexForward": False,
                "KeyConditionExpression": "#h = :h",
                "ExpressionAttributeNames": {"#h": self.name},
                "ExpressionAttributeValues": {":h": {"S": shard.value}},
            }
            if shard.after is not None:
                kwargs["ExclusiveStartKey"] = shard.after
            with aws.translate():
                page = self.repo.ddb.query(**kwargs)
            shard.keys += page.get("Items", [])
            shard.after = page.get("LastEvaluatedKey")
            shard.more = shard.after is not None

    def peek(self, n: int) -> list[tuple[int, dict[str, Any]]]:
        """The next ``n`` keys (fewer at the end), each with its shard's index."""
        out: list[tuple[int, dict[str, Any]]] = []
        seen = [0] * len(self.shards)
        while len(out) < n:
            newest: tuple[str, int] | None = None
            for i, shard in enumerate(self.shards):
                self._fill(shard, seen[i] + 1)
                if seen[i] < len(shard.keys):
                    at = str(shard.keys[seen[i]]["createdAt"]["S"])
                    if newest is None or at > newest[0]:
                        newest = (at, i)
            if newest is None:
                break
            i = newest[1]
            out.append((i, self.shards[i].keys[seen[i]]))
            seen[i] += 1
        return out

    def take(self, picked: list[tuple[int, dict[str, Any]]]) -> None:
        """Move past ``picked``: the first keys ``peek`` gave, in its order."""
        for i, key in picked:
            shard = self.shards[i]
            shard.keys.pop(0)
            shard.position = [key["createdAt"]["S"], _order_id(key)]

    def cursor(self) -> dict[str, Any] | None:
        """Where the next page starts; None when every shard is done."""
        positions = [_END if not s.keys and not s.more else s.position for s in self.shards]
        return None if all(p == _END for p in positions) else {"of": self.of, "walk": positions}


def _position_ok(position: Any) -> bool:
    return (
        position is None
        or position == _END
        or (
            isinstance(position, list)
            and len(position) == 2
            and all(isinstance(v, str) for v in position)
        )
    )


def _order_id(key: dict[str, Any]) -> str:
    return str(key["pk"]["S"]).removeprefix("ORDER#")


class DynamoOrderRepository(dynamo.DynamoTable):
    def create(
        self,
        order: Order,
        event: OrderEvent,
        payment_token: str,
        idempotency: IdempotencyRecord | None,
    ) -> None:
        put: dict[str, Any] = {
            "TableName": self.table,
            "Item": dynamo.to_item(record.new(order, event, payment_token, correlation.current())),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if idempotency is None:
            with aws.translate():
                self.ddb.put_item(**put)
            return
        items: list[dict[str, Any]] = [
            {"Put": put},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": dynamo.to_item(
                        {
                            "pk": _idempotency_pk(idempotency.customer_id, idempotency.key_hash),
                            "sk": "IDEMPOTENCY",
                            "requestHash": idempotency.request_hash,
                            "orderId": idempotency.order_id,
                            "expiresAt": int(time.time()) + IDEMPOTENCY_TTL_SECONDS,
                        }
                    ),
                    # TTL deletes lazily: an expired record may still be there.
                    "ConditionExpression": "attribute_not_exists(pk) OR expiresAt < :now",
                    "ExpressionAttributeValues": {":now": {"N": str(int(time.time()))}},
                }
            },
        ]
        with aws.translate():
            self.ddb.transact_write_items(TransactItems=items)

    def find_idempotency(self, customer_id: str, key_hash: str) -> IdempotencyRecord | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table,
                ConsistentRead=True,
                Key={
                    "pk": {"S": f"IDEMPOTENCY#{customer_id}#{key_hash}"},
                    "sk": {"S": "IDEMPOTENCY"},
                },
            ).get("Item")
        if not item:
            return None
        data = dynamo.from_item(item)
        # TTL deletion lags by up to days: an expired record is no record.
        if int(data.get("expiresAt", 0)) < time.time():
            return None
        return IdempotencyRecord(customer_id, key_hash, data["requestHash"], data["orderId"])

    def _get_record(self, order_id: str) -> dict[str, Any] | None:
        with aws.translate():
            item = self.ddb.get_item(
                TableName=self.table, Key=_order_key(order_id), ConsistentRead=True
            ).get("Item")
        return dynamo.from_item(item) if item else None

    def get(self, order_id: str) -> Order | None:
        found = self._get_record(order_id)
        return record.order_of(found) if found else None

    def payment_token(self, order_id: str) -> str | None:
        found = self._get_record(order_id)
        return str(found["paymentToken"]) if found and "paymentToken" in found else None

    def events(self, order_id: str) -> list[OrderEvent]:
        found = self._get_record(order_id)
        return [event for event, _ in record.history(found)] if found else []

    def append(
        self,
        before: Order,
        after: Order,
        event: OrderEvent,
        payment_token: str | None = None,
        joined: object | None = None,
    ) -> bool:
        return self.append_many(before, [(event, after)], payment_token, joined)

    def append_many(
        self,
        before: Order,
        steps: list[tuple[OrderEvent, Order]],
        payment_token: str | None = None,
        joined: object | None = None,
    ) -> bool:
        after = steps[-1][1]
        events = [event for event, _ in steps]
        flow = correlation.current()
        # First as the record's own flow (no correlation id on the entries);
        # if only the flow differs, again as a new one.
        for new_flow in (False, True):
            done = record.change(after, events, payment_token, flow, new_flow)
            update = {
                "TableName": self.table,
                "Key": _order_key(before.orderId),
                **_update(before, done, flow, new_flow=new_flow),
            }
            try:
                self._write(update, joined)
                return True
            except JointRefused:
                raise
            except errors.Conflict:
                if new_flow or flow is None:
                    return False
                found = self._get_record(before.orderId)
                if found is None or record.order_of(found) != before:
                    return False  # the order moved on (not just another flow)
        return False  # pragma: no cover - the loop returns

    def _write(self, update: dict[str, Any], joined: object | None) -> None:
        """The order's conditional update, alone or first in one transaction
        with ``joined`` (a ``dynamo.Joint``): Conflict when the order's own
        condition fails, JointRefused when only the joined items' do."""
        if joined is None:
            with aws.translate():
                self.ddb.update_item(**update)
            return
        if not isinstance(joined, dynamo.Joint):
            raise TypeError(f"not a change DynamoDB can join: {type(joined).__name__}")
        try:
            with aws.translate():
                self.ddb.transact_write_items(TransactItems=[{"Update": update}, *joined.items])
        except errors.Conflict as exc:
            codes = dynamo.cancellation_codes(exc.__cause__ or exc)
            if codes[:1] == [_FAILED]:
                raise  # the order moved on (or only its flow differs)
            if "TransactionConflict" in codes:
                raise errors.Transient("a concurrent transaction on the same items; retry") from exc
            if _FAILED in codes[1:]:
                raise JointRefused(codes[1:]) from exc
            raise

    def _orders(self, keys: list[dict[str, Any]], consistent: bool = True) -> list[Order]:
        """The orders of index ``keys`` (keys-only projections), in their order."""
        items = self.batch_get([{"pk": k["pk"], "sk": k["sk"]} for k in keys], consistent)
        found = {o.orderId: o for o in (record.order_of(dynamo.from_item(i)) for i in items)}
        ids = [_order_id(k) for k in keys]
        return [found[i] for i in ids if i in found]

    def list_all(
        self, limit: int, start: dict[str, Any] | None, status: OrderStatus | None = None
    ) -> Page:
        """Every order newest first, merged from gsi3's shards; with
        ``status``, those in it (open orders are the newest: their pages
        come first)."""
        if status is None:
            walk = _Walk(self, "gsi3", "allShard", _ALL, start, limit)
            picked = walk.peek(limit)
            walk.take(picked)
            return Page(self._orders([key for _, key in picked]), walk.cursor())
        walk = _Walk(self, "gsi3", "allShard", _ALL, start, FILTERED_READS)
        return self._filtered(walk, limit, status)

    def _filtered(self, walk: _Walk, limit: int, status: OrderStatus) -> Page:
        """Up to ``limit`` orders in ``status`` from ``walk``, reading at most
        FILTERED_READS orders (a BatchGetItem of the next keys at a time)."""
        found: list[Order] = []
        read = 0
        while len(found) < limit and read < FILTERED_READS:
            picked = walk.peek(min(FILTERED_READS - read, max(limit - len(found), _MIN_BATCH)))
            if not picked:
                break
            read += len(picked)
            orders = {o.orderId: o for o in self._orders([key for _, key in picked])}
            used = 0
            for _, key in picked:
                used += 1
                order = orders.get(_order_id(key))
                if order is not None and order.status is status:
                    found.append(order)
                    if len(found) == limit:
                        break
            walk.take(picked[:used])
        return Page(found, walk.cursor())

    def list_for_customer(
        self,
        customer_id: str,
        limit: int,
        start: dict[str, Any] | None,
        status: OrderStatus | None = None,
    ) -> Page:
        if status is not None:
            walk = _Walk(self, "gsi1", "customerId", [customer_id], start, FILTERED_READS)
            return self._filtered(walk, limit, status)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi1",
            "Limit": limit,
            "ScanIndexForward": False,
            "KeyConditionExpression": "customerId = :c",
            "ExpressionAttributeValues": {":c": {"S": customer_id}},
        }
        if start:
            if start.get("customerId") != customer_id or set(start) != _GSI1_CURSOR:
                raise errors.InvalidInput("cursor is not valid for this listing")
            kwargs["ExclusiveStartKey"] = dynamo.to_item(start)
        with aws.translate():
            page = self.ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        return Page(self._orders(page.get("Items", [])), dynamo.from_item(last) if last else None)

    def aged(self, before: str, limit: int, start: dict[str, Any] | None) -> Page:
        """The next page of the orders placed before ``before`` that the
        sweep has not looked at yet (in each gsi3 shard, after the last one
        it looked at: its mark, the index key itself), oldest first and
        eventually consistent (the sweep's every write is conditional): the
        open ones of them. Each is watched (gsi2) before the shard's mark
        moves past it, so an order the sweep looked at once is terminal or
        watched, whatever happens to this run, and is not looked at again."""
        if start is None:
            with aws.translate():
                item = self.ddb.get_item(TableName=self.table, Key=_MARKS, ConsistentRead=True)
            held = dynamo.from_item(item.get("Item") or {})
            marks = [held.get(f"m{n}") for n in range(len(_ALL))]
            start = {"shard": 0, "marks": marks, "key": marks[0]}
        shard, marks = int(start["shard"]), list(start["marks"])
        following = (
            {"shard": shard + 1, "marks": marks, "key": marks[shard + 1]}
            if shard + 1 < len(_ALL)
            else None
        )
        if start.get("key") and str(start["key"]["createdAt"]) >= before:
            # Looked further already (a sweep with a later clock): nothing
            # new here, and DynamoDB refuses a start key past the condition.
            return Page([], following)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi3",
            "Limit": limit,
            "KeyConditionExpression": "allShard = :s AND createdAt < :b",
            "ExpressionAttributeValues": {":s": {"S": _ALL[shard]}, ":b": {"S": before}},
        }
        if start.get("key"):
            kwargs["ExclusiveStartKey"] = dynamo.to_item(start["key"])
        with aws.translate():
            page = self.ddb.query(**kwargs)
        keys = page.get("Items", [])
        still = [o for o in self._orders(keys, consistent=False) if not o.status.terminal]
        for order in still:
            self._watch(order)
        if keys:
            # The last one looked at, not ``before``: a clock ahead of the
            # orders' (the local stack's, moved forward) must not pass orders
            # placed after this look.
            self._mark(shard, dynamo.from_item(keys[-1]))
        last = page.get("LastEvaluatedKey")
        if last:
            return Page(still, {"shard": shard, "marks": marks, "key": dynamo.from_item(last)})
        return Page(still, following)

    def _watch(self, order: Order) -> None:
        """Put ``order`` in the sweep's watched index unless it is terminal
        by now (its terminal write removes it; no event, no version: the
        relay publishes nothing for this write)."""
        try:
            with aws.translate():
                self.ddb.update_item(
                    TableName=self.table,
                    Key=dynamo.to_item(record.key(order.orderId)),
                    UpdateExpression="SET openShard = :o",
                    ConditionExpression="attribute_exists(pk) AND NOT "
                    f"(#s IN ({', '.join(_TERMINAL)}))",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":o": {"S": record.open_shard(order.orderId)},
                        **_TERMINAL,
                    },
                )
        except errors.Conflict:
            pass  # terminal meanwhile: nothing to watch

    def _mark(self, shard: int, looked: dict[str, Any]) -> None:
        """Move ``shard``'s mark forward to ``looked`` (an index key; never
        back: a slower sweep running beside this one leaves it where it is)."""
        try:
            with aws.translate():
                self.ddb.update_item(
                    TableName=self.table,
                    Key=_MARKS,
                    UpdateExpression="SET #m = :v",
                    ConditionExpression="attribute_not_exists(#m) OR #m.createdAt < :c "
                    "OR (#m.createdAt = :c AND #m.pk < :p)",
                    ExpressionAttributeNames={"#m": f"m{shard}"},
                    ExpressionAttributeValues={
                        ":v": dynamo.value(looked),
                        ":c": {"S": str(looked["createdAt"])},
                        ":p": {"S": str(looked["pk"])},
                    },
                )
        except errors.Conflict:
            pass  # another sweep got further

    def open_before(self, before: str, limit: int, start: dict[str, Any] | None) -> Page:
        """The orders the sweep watches (gsi2: still open when it first
        looked at them) placed before ``before`` (ISO time), oldest first
        within each shard; ``start`` is the cursor of the previous page
        (None: the first)."""
        shard = int(start.get("shard", 0)) if start else 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "gsi2",
            "Limit": limit,
            "KeyConditionExpression": "openShard = :s AND createdAt < :before",
            "ExpressionAttributeValues": {
                ":s": {"S": f"OPEN#{shard}"},
                ":before": {"S": before},
            },
        }
        if start and start.get("key"):
            kwargs["ExclusiveStartKey"] = dynamo.to_item(start["key"])
        with aws.translate():
            page = self.ddb.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        if last:
            cursor: dict[str, Any] | None = {"shard": shard, "key": dynamo.from_item(last)}
        else:
            cursor = {"shard": shard + 1} if shard + 1 < record.OPEN_SHARDS else None
        return Page(self._orders(page.get("Items", [])), cursor)

    def histories(self) -> Iterator[tuple[Order, Callable[[], list[OrderEvent]]]]:
        """One consistent Scan of the order records (each holds its history):
        replaying n orders reads the table once instead of 2n GetItems."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "sk = :o",
            "ExpressionAttributeValues": {":o": {"S": "ORDER"}},
            "ConsistentRead": True,
        }
        while True:
            with aws.translate():
                page = self.ddb.scan(**kwargs)
            for item in page.get("Items", []):
                found = dynamo.from_item(item)
                yield record.order_of(found), partial(_events_of, found)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def all_order_ids(self) -> list[str]:
        return [order.orderId for order, _ in self.histories()]

    def mark_notified(self, order_id: str, event_type: str) -> bool:
        return self.mark_notified_many(order_id, [event_type]) == [event_type]

    def mark_notified_many(self, order_id: str, event_types: list[str]) -> list[str]:
        """One conditional update of the order's marker item (``NOTIFIED``,
        its ``sent`` set) for all of ``event_types`` that are not in it yet;
        the ones marked now. If one was sent already, the item is read and
        the rest marked."""
        wanted = list(dict.fromkeys(event_types))
        key = {"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "NOTIFIED"}}
        while wanted:
            now = int(time.time())
            values: dict[str, Any] = {
                ":types": {"SS": wanted},
                ":now": {"N": str(now)},
                # The table's TTL attribute: DynamoDB deletes it, no sweep.
                ":exp": {"N": str(now + NOTIFIED_TTL_SECONDS)},
            }
            values |= {f":t{i}": {"S": t} for i, t in enumerate(wanted)}
            sent = " OR ".join(f"contains(sent, :t{i})" for i in range(len(wanted)))
            try:
                with aws.translate():
                    self.ddb.update_item(
                        TableName=self.table,
                        Key=key,
                        UpdateExpression="ADD sent :types SET #at = :now, "
                        "expiresAt = if_not_exists(expiresAt, :exp)",
                        ConditionExpression=f"attribute_not_exists(sent) OR NOT ({sent})",
                        ExpressionAttributeNames={"#at": "at"},
                        ExpressionAttributeValues=values,
                    )
                return wanted
            except errors.Conflict:
                with aws.translate():
                    item = self.ddb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
                done = set(item.get("Item", {}).get("sent", {}).get("SS", []))
                wanted = [t for t in wanted if t not in done]
        return []

    def unmark_notified(self, order_id: str, event_type: str) -> None:
        with aws.translate():
            self.ddb.update_item(
                TableName=self.table,
                Key={"pk": {"S": f"ORDER#{order_id}"}, "sk": {"S": "NOTIFIED"}},
                UpdateExpression="DELETE sent :t",
                ExpressionAttributeValues={":t": {"SS": [event_type]}},
            )
