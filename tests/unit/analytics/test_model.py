"""The analytics model: which events are facts, on which day an order
counts, and the day ranges the API accepts."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.analytics.model import MAX_DAYS, DayTotals, Line, day_range, fact_of
from chalicelib.analytics.service import AnalyticsService
from chalicelib.orders.events import OrderEventMessage
from chalicelib.platform import errors
from tests.support.fakes import FakeAnalyticsRepository


def message(
    kind: str, created: str = "2026-03-01T23:59:59.000Z", **order: Any
) -> OrderEventMessage:
    snapshot = {
        "createdAt": created,
        "totalCents": 700,
        "items": [
            {"sku": "A", "quantity": 2, "lineTotalCents": 500},
            {"sku": "B", "quantity": 1, "lineTotalCents": 200},
        ],
        **order,
    }
    return OrderEventMessage(
        type=kind,  # type: ignore[arg-type]
        orderId="o-1",
        customerId="c-1",
        version=1,
        at="2026-03-02T10:00:00.000Z",
        data={},
        order=snapshot,
    )


def test_four_events_are_facts_each_on_the_day_the_order_was_placed() -> None:
    kinds = {
        t: fact.kind
        for t in ("OrderPlaced", "OrderCompleted", "OrderRejected", "CancellationCompleted")
        if (fact := fact_of(message(t))) is not None
    }
    assert kinds == {
        "OrderPlaced": "placed",
        "OrderCompleted": "completed",
        "OrderRejected": "rejected",
        "CancellationCompleted": "cancelled",
    }
    completed = fact_of(message("OrderCompleted"))
    assert completed is not None
    # Completed the next day, counted on the day it was placed.
    assert (completed.day, completed.units, completed.cents) == ("2026-03-01", 3, 700)
    assert completed.lines == (Line("A", 2, 500), Line("B", 1, 200))
    for ignored in ("StockReserved", "PaymentCaptured", "OrderCancelled", "OrderShipped"):
        assert fact_of(message(ignored)) is None


def test_an_event_without_a_usable_snapshot_is_refused() -> None:
    with pytest.raises(ValueError):
        fact_of(message("OrderPlaced", created="yesterday"))
    with pytest.raises(ValueError, match="no items"):
        fact_of(message("OrderPlaced", items=[]))


def test_a_range_is_every_day_between_both_ends() -> None:
    assert day_range("2024-02-28", "2024-03-01") == ["2024-02-28", "2024-02-29", "2024-03-01"]
    assert day_range("2026-01-01", "2026-01-01") == ["2026-01-01"]
    assert len(day_range("2024-01-01", "2024-12-31")) == MAX_DAYS  # a leap year: 366


@pytest.mark.parametrize(
    ("first", "last", "why"),
    [
        (None, "2026-01-01", "from: required"),
        ("2026-01-01", None, "to: required"),
        ("2026-1-1", "2026-01-02", "from: not a date"),
        ("2026-01-01", "2026-02-30", "to: not a date"),
        ("2026-01-01T00:00", "2026-01-02", "from: not a date"),
        ("2026-01-02", "2026-01-01", "to: before from"),
        ("2025-01-01", "2026-01-02", "to: at most 366 days"),
    ],
)
def test_a_bad_range_names_its_parameter(first: str | None, last: str | None, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        day_range(first, last)
    service = AnalyticsService(FakeAnalyticsRepository())
    with pytest.raises(errors.InvalidInput) as raised:
        service.daily(first, last)
    assert raised.value.errors[0]["loc"] == ["query", why.split(":", maxsplit=1)[0]]


def test_days_without_orders_are_zeros_and_a_redelivery_counts_nothing() -> None:
    service = AnalyticsService(FakeAnalyticsRepository())
    assert service.apply(message("OrderPlaced")) is True
    assert service.apply(message("OrderPlaced")) is False
    assert service.apply(message("StockReserved")) is False
    assert service.apply(message("OrderCompleted")) is True
    assert service.daily("2026-02-28", "2026-03-02") == [
        DayTotals("2026-02-28"),
        DayTotals("2026-03-01", orders=1, completed=1, revenueCents=700, units=3),
        DayTotals("2026-03-02"),
    ]
    a = service.product("A")
    assert (a.unitsSold, a.revenueCents, a.orders) == (2, 500, 1)
    assert service.product("NEVER-SOLD").as_dict() == {
        "sku": "NEVER-SOLD",
        "unitsSold": 0,
        "revenueCents": 0,
        "orders": 0,
    }
    with pytest.raises(errors.InvalidInput):
        service.product("not a sku")
