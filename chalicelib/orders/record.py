"""The order as it is stored: ONE record holding its state and its whole
history, and the events a write of it appended (what the stream relay
publishes). Plain dicts in and out, no DynamoDB types: the DynamoDB adapter
and the in-memory fake store the same record, and the relay reads it back
from a stream record's images. Standard library and pydantic only.

The record (``ORDER#id / ORDER``):

- the order's fields (``Order``), defaults left out (no ``reason`` until one,
  ``stockHeld`` and ``stockReleased`` only while true);
- ``history``: every event, oldest first, its version its place in the list.
  Each entry is ``{"t": type, "at": time}``, plus ``"d"`` (its data) when it
  has any and ``"c"`` (its correlation id) when its flow differs from the
  entry before it (the first entry has it; an entry without one belongs to
  the flow of the one before). The record's ``flow`` is the flow of its last
  entry: a write from that same flow appends entries without ``"c"`` (its
  condition checks ``flow``), which keeps the history short. The
  ``OrderPlaced`` entry carries no data: it is the order's fields that never
  change (id, customer, lines, total, address), read back from the record,
  and its ``"h"`` is a digest of them, so a record whose placed fields were
  changed after the fact no longer reads (``history`` raises ValueError,
  which ``replay-orders`` reports);
- ``paymentToken`` while the payment is unsettled (PLACED, RESERVED);
- ``openShard`` once the saga-timeout sweep found the order still open as
  it reached the timeout's age, until it is terminal: the key of the sparse
  index of the orders it watches, one of ``OPEN_SHARDS`` partitions (an
  order whose saga ends in time never has one, so never writes that index);
- ``allShard``: the key of the index of every order by placement time (the
  admins' listing), one of ``ALL_SHARDS`` partitions, written once with the
  record and never changed, so no status change writes that index.

Why one record: a status change is then one conditional write of one item
(its state, its event, and the version check together), not a transaction
of two; the stream's new image carries the new event, so the outbox holds
(no event without its state change, no state change without its event).
Short keys in the history keep a completed order under 1 KB: one write unit
per write.
"""

from __future__ import annotations

import copy
import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

from chalicelib.orders.events import OrderEventMessage
from chalicelib.orders.model import (
    EventType,
    InvalidTransition,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    ShippingAddress,
    apply,
    initial,
)

OPEN_SHARDS = 4
# The partitions of the index of every order (gsi3): placements spread over
# them, so no single index partition takes every new order.
ALL_SHARDS = 4
# Statuses in which the payment is not yet settled: the token is still needed.
TOKEN_STATUSES = frozenset({OrderStatus.PLACED, OrderStatus.RESERVED})
# Fields of the record that are not the order's.
_NOT_ORDER = frozenset(
    {"pk", "sk", "history", "paymentToken", "openShard", "allShard", "flow", "expiresAt"}
)
# Order fields a status change may set or clear (the rest never change).
MUTABLE = ("status", "version", "updatedAt", "reason", "trackingNumber", "stockHeld",
           "stockReleased", "openPayment")  # fmt: skip


def key(order_id: str) -> dict[str, str]:
    return {"pk": f"ORDER#{order_id}", "sk": "ORDER"}


def _shard(prefix: str, order_id: str, shards: int) -> str:
    return f"{prefix}#{zlib.crc32(order_id.encode()) % shards}"


def open_shard(order_id: str) -> str:
    """The sweep index partition of an order (stable, spread evenly)."""
    return _shard("OPEN", order_id, OPEN_SHARDS)


def all_shard(order_id: str) -> str:
    """The partition of an order in the index of every order (stable, spread evenly)."""
    return _shard("ALL", order_id, ALL_SHARDS)


def state(order: Order) -> dict[str, Any]:
    """The order's mutable fields as stored: None for a field to leave out."""
    data = order.model_dump(mode="json", include=set(MUTABLE))
    for flag in ("stockHeld", "stockReleased"):
        if not data.get(flag):
            data[flag] = None
    return data


def entry(event: OrderEvent, correlation_id: str | None) -> dict[str, Any]:
    """One history entry (see the module's docstring); ``correlation_id``
    only when it starts a new flow."""
    out: dict[str, Any] = {"t": str(event.type), "at": event.at}
    if event.type is EventType.ORDER_PLACED:
        out["h"] = _digest(_placed_data(event.data))
    elif event.data:
        out["d"] = dict(event.data)
    if correlation_id:
        out["c"] = correlation_id
    return out


def keeps_token(order: Order, token: str | None) -> bool:
    return bool(token) and order.status in TOKEN_STATUSES


@dataclass(frozen=True)
class Change:
    """What a status change does to a record: the attributes it sets, the
    ones it removes, and the history entries it appends. The DynamoDB
    adapter writes it as one conditional UpdateItem; the in-memory fake
    applies it (``applied``)."""

    sets: dict[str, Any]
    removes: list[str]
    entries: list[dict[str, Any]]


def change(
    after: Order, events: list[OrderEvent], token: str | None, flow: str | None, new_flow: bool
) -> Change:
    """The change that makes a record the one of ``after`` with ``events``
    appended: the token kept only while unsettled, the sweep index's key
    gone with the terminal write, and the writer's ``flow`` on the first
    entry (and as the record's) only when it starts a new one."""
    fields = state(after)
    sets = {name: v for name, v in fields.items() if v is not None}
    removes = [name for name, v in fields.items() if v is None]
    if keeps_token(after, token):
        sets["paymentToken"] = token
    else:
        removes.append("paymentToken")
    if after.status.terminal:
        removes.append("openShard")
    starts = new_flow and flow is not None
    if starts:
        sets["flow"] = flow
    entries = [entry(e, flow if starts and i == 0 else None) for i, e in enumerate(events)]
    return Change(sets, removes, entries)


def applied(record: dict[str, Any], done: Change) -> dict[str, Any]:
    """``record`` after ``done`` (a new dict; ``record`` is left as it was)."""
    new = copy.deepcopy(record)
    new["history"] = [*new.get("history", []), *copy.deepcopy(done.entries)]
    new.update(copy.deepcopy(done.sets))
    for name in done.removes:
        new.pop(name, None)
    return new


def new(
    order: Order, placed: OrderEvent, token: str | None, correlation_id: str | None
) -> dict[str, Any]:
    """The record a placed order starts as."""
    record: dict[str, Any] = order.model_dump(mode="json") | key(order.orderId) | state(order)
    record["history"] = [entry(placed, correlation_id)]
    record["flow"] = correlation_id
    if keeps_token(order, token):
        record["paymentToken"] = token
    record["allShard"] = all_shard(order.orderId)
    return {k: v for k, v in record.items() if v is not None}


def order_of(record: dict[str, Any]) -> Order:
    return Order.model_validate({k: v for k, v in record.items() if k not in _NOT_ORDER})


def _placed_data(record: dict[str, Any]) -> dict[str, Any]:
    """What the OrderPlaced event carried: the fields no status change
    touches (of a record, or of the event's own data), every field set."""
    return {
        "orderId": record["orderId"],
        "customerId": record["customerId"],
        "items": [
            OrderLine.model_validate(line).model_dump(mode="json") for line in record["items"]
        ],
        "totalCents": record["totalCents"],
        "shippingAddress": ShippingAddress.model_validate(record["shippingAddress"]).model_dump(
            mode="json", exclude_none=True
        ),
    }


def _digest(placed: dict[str, Any]) -> str:
    canonical = json.dumps(placed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def history(record: dict[str, Any], verify: bool = True) -> list[tuple[OrderEvent, str | None]]:
    """Every event of the record with its correlation id, oldest first.
    ValueError when the placed fields no longer match their event's digest
    (unless ``verify`` is off: the relay publishes what the record says)."""
    flow: str | None = None
    out = []
    for n, e in enumerate(record.get("history") or [], 1):
        if e["t"] == EventType.ORDER_PLACED:
            data = _placed_data(record)
            if verify and e.get("h") != _digest(data):
                raise ValueError(
                    f"order {record.get('orderId')}: its lines, total, address or customer "
                    "differ from its OrderPlaced event"
                )
        else:
            data = e.get("d") or {}
        flow = e.get("c") or flow
        out.append((OrderEvent(version=n, type=e["t"], at=e["at"], data=data), flow))
    return out


def snapshot(order: Order, token: str | None) -> dict[str, Any]:
    """The order as an event message carries it (with the token until settled)."""
    data = order.model_dump(mode="json", exclude_none=True)
    if keeps_token(order, token):
        data["paymentToken"] = token
    return data


def appended(old: dict[str, Any] | None, record: dict[str, Any]) -> list[OrderEventMessage]:
    """The events a write appended (those of ``record`` past ``old``'s
    version; all of them for a new record), each with the order after it."""
    seen = int(old.get("version", 0)) if old and old.get("sk") == "ORDER" else 0
    token = record.get("paymentToken")
    # Not verified: a record changed by hand must not hold the stream's shard
    # (the relay retries forever); replay-orders is what reports it.
    events = history(record, verify=False)
    final = order_of(record)
    out = []
    current: Order | None = None
    for event, correlation_id in events:
        try:
            current = initial(event) if current is None else apply(current, event)
        except (ValueError, InvalidTransition):
            current = final  # a history that does not fold: the record's state stands
        if event.version <= seen:
            continue
        out.append(
            OrderEventMessage(
                type=event.type,
                orderId=final.orderId,
                customerId=final.customerId,
                version=event.version,
                at=event.at,
                data=event.data,
                order=snapshot(current, token),
                correlationId=correlation_id,
            )
        )
    return out
