"""The analytics read model: what each order event adds to the numbers.

An order counts on the UTC day it was placed (its snapshot's ``createdAt``),
whichever day its later events happen. Four events are facts here, each
counted once per order (``Fact``): OrderPlaced (orders, units),
OrderCompleted (completed, revenue, and each line's product), OrderRejected
and CancellationCompleted (the order is CANCELLED). Every event carries the
order's snapshot, so each fact stands on its own: the facts of one order
add up the same in any order of delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.orders.events import OrderEventMessage

FACTS = {
    "OrderPlaced": "placed",
    "OrderCompleted": "completed",
    "OrderRejected": "rejected",
    "CancellationCompleted": "cancelled",
}
EVENT_TYPES = tuple(FACTS)
MAX_DAYS = 366  # one listing's range, both ends included


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    cents: int


@dataclass(frozen=True)
class Fact:
    order_id: str
    kind: str  # placed | completed | rejected | cancelled
    day: str  # YYYY-MM-DD, UTC, the day the order was placed
    units: int
    cents: int  # the order's total
    lines: tuple[Line, ...]


def fact_of(message: OrderEventMessage) -> Fact | None:
    """The fact ``message`` is, or None for the events analytics ignores.
    ValueError if its snapshot lacks what the fact needs."""
    kind = FACTS.get(str(message.type))
    if kind is None:
        return None
    order: dict[str, Any] = message.order
    created = str(order.get("createdAt", ""))
    day = date.fromisoformat(created[:10]).isoformat()  # ValueError if not a date
    lines = tuple(
        Line(str(i["sku"]), int(i["quantity"]), int(i["lineTotalCents"]))
        for i in order.get("items") or []
    )
    if not lines:
        raise ValueError(f"order {message.orderId}: no items in the event's snapshot")
    return Fact(
        order_id=message.orderId,
        kind=kind,
        day=day,
        units=sum(line.quantity for line in lines),
        cents=int(order.get("totalCents", sum(line.cents for line in lines))),
        lines=lines,
    )


def day_change(fact: Fact) -> dict[str, int]:
    """What ``fact`` adds to its day's counters."""
    if fact.kind == "placed":
        return {"orders": 1, "units": fact.units}
    if fact.kind == "completed":
        return {"completed": 1, "revenueCents": fact.cents}
    return {fact.kind: 1}


def product_changes(fact: Fact) -> dict[str, dict[str, int]]:
    """What a completed order adds to each of its products' counters (one
    order per product, even with two lines of it); nothing for other facts."""
    if fact.kind != "completed":
        return {}
    sold: dict[str, dict[str, int]] = {}
    for line in fact.lines:
        totals = sold.setdefault(line.sku, {"unitsSold": 0, "revenueCents": 0, "orders": 1})
        totals["unitsSold"] += line.quantity
        totals["revenueCents"] += line.cents
    return dict(sorted(sold.items()))


@dataclass(frozen=True)
class DayTotals:
    day: str
    orders: int = 0
    completed: int = 0
    rejected: int = 0
    cancelled: int = 0
    revenueCents: int = 0  # noqa: N815 - API field
    units: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ProductTotals:
    sku: str
    unitsSold: int = 0  # noqa: N815 - API field
    revenueCents: int = 0  # noqa: N815
    orders: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def day_range(first: str | None, last: str | None) -> list[str]:
    """Every day from ``first`` to ``last`` (YYYY-MM-DD, both included);
    ValueError naming the parameter when one is missing or not a date, when
    ``to`` is before ``from``, or for more than ``MAX_DAYS`` days."""
    days = []
    for name, raw in (("from", first), ("to", last)):
        if raw is None:
            raise ValueError(f"{name}: required (YYYY-MM-DD)")
        try:
            if len(raw) != 10:
                raise ValueError(raw)
            days.append(date.fromisoformat(raw))
        except ValueError:
            raise ValueError(f"{name}: not a date (YYYY-MM-DD): {raw[:20]!r}") from None
    start, end = days
    span = (end - start).days + 1
    if span < 1:
        raise ValueError("to: before from")
    if span > MAX_DAYS:
        raise ValueError(f"to: at most {MAX_DAYS} days from from ({span} asked)")
    return [date.fromordinal(start.toordinal() + i).isoformat() for i in range(span)]
