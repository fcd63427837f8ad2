"""The saga-timeout sweep over the in-memory repositories: which orders it
cancels, which it only reports, and that racing sweeps change nothing twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from chalicelib.catalog.model import Product
from chalicelib.catalog.service import CatalogService
from chalicelib.ops.service import OpsService
from chalicelib.orders.events import (
    OrderCompleted,
    OrderShipped,
    PaymentCaptured,
    StockReserved,
)
from chalicelib.orders.model import EventType, Order, OrderStatus
from chalicelib.orders.service import OrderService
from tests.support.fakes import FakeAlerts, FakeCatalogRepository, FakeOrderRepository

T0 = "2026-01-01T00:00:00.000Z"
ADDRESS = {"name": "A", "line1": "1 St", "city": "Berlin", "postalCode": "1", "country": "DE"}


class Shop:
    def __init__(self) -> None:
        self.repo = FakeOrderRepository()
        catalog_repo = FakeCatalogRepository()
        catalog_repo.put(
            Product(
                sku="A", name="A", priceCents=100, stock=1000, lowStockThreshold=0, updatedAt=T0
            )
        )
        self.now = T0
        self.orders = OrderService(
            self.repo, CatalogService(catalog_repo, FakeAlerts()), clock=lambda: self.now
        )
        self.alerts = FakeAlerts()
        self.ops = OpsService(self.orders, self.alerts, saga_timeout_seconds=900)

    def order(self, status: OrderStatus) -> Order:
        body = {
            "items": [{"sku": "A", "quantity": 1}],
            "paymentToken": "tok_ok",
            "shippingAddress": ADDRESS,
        }
        order, _ = self.orders.place("ada", body)
        path = [
            StockReserved(),
            PaymentCaptured(chargeId="ch", amountCents=100),
            OrderShipped(trackingNumber="T"),
        ]
        steps = {
            OrderStatus.PLACED: 0,
            OrderStatus.RESERVED: 1,
            OrderStatus.PAID: 2,
            OrderStatus.SHIPPED: 3,
        }
        for happened in path[: steps[status]]:
            order, _ = self.orders.record(order, happened)
        return order


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize("status", [OrderStatus.PLACED, OrderStatus.RESERVED, OrderStatus.PAID])
def test_a_stuck_order_is_cancelled_with_a_timed_out_reason(status: OrderStatus) -> None:
    shop = Shop()
    order = shop.order(status)
    report = shop.ops.sweep_stuck_sagas(at("2026-01-01T00:15:01Z"))
    after = shop.orders.current(order.orderId)
    assert report.timed_out == [order.orderId]
    assert after.status is OrderStatus.CANCELLING  # the steps compensate, then CANCELLED
    assert after.reason == f"timed out in {status}"
    assert [e.type for e in shop.repo.events(order.orderId)][-1] is EventType.ORDER_CANCELLED
    assert shop.alerts.kinds() == ["SAGA_TIMEOUT"]
    assert shop.alerts.alerts[0].alert_id == f"SAGA_TIMEOUT#{order.orderId}"


def test_an_order_within_the_timeout_is_left_alone() -> None:
    shop = Shop()
    order = shop.order(OrderStatus.RESERVED)
    assert shop.ops.sweep_stuck_sagas(at("2026-01-01T00:14:59Z")).timed_out == []
    assert shop.orders.current(order.orderId).status is OrderStatus.RESERVED
    assert shop.alerts.sent == []


def test_a_shipped_order_is_reported_not_cancelled() -> None:
    shop = Shop()
    order = shop.order(OrderStatus.SHIPPED)
    report = shop.ops.sweep_stuck_sagas(at("2026-01-02T00:00:00Z"))
    assert (report.timed_out, report.alerted) == ([], [order.orderId])
    assert shop.orders.current(order.orderId).status is OrderStatus.SHIPPED
    assert shop.alerts.alerts[0].alert_id == f"SAGA_TIMEOUT#{order.orderId}#SHIPPED"


def test_a_sweep_that_lost_the_race_to_a_late_step_changes_nothing() -> None:
    shop = Shop()
    seen = shop.order(OrderStatus.RESERVED)
    shop.orders.record(seen, PaymentCaptured(chargeId="ch", amountCents=100))  # the late step
    assert shop.orders.time_out(seen, "2026-01-01T01:00:00.000Z") is None
    assert shop.orders.current(seen.orderId).status is OrderStatus.PAID


def test_two_sweeps_at_once_cancel_each_of_twenty_orders_once() -> None:
    shop = Shop()
    ids = {shop.order(OrderStatus.RESERVED).orderId for _ in range(20)}
    reports = []
    start = threading.Barrier(2)

    def sweep() -> None:
        start.wait()
        reports.append(shop.ops.sweep_stuck_sagas(at("2026-01-01T01:00:00Z")))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cancelled = [o for r in reports for o in r.timed_out]
    assert sorted(cancelled) == sorted(ids)  # each once, by one sweep or the other
    for order_id in ids:
        types = [e.type for e in shop.repo.events(order_id)]
        assert types.count(EventType.ORDER_CANCELLED) == 1
    assert len(shop.alerts.sent) == 20


def test_an_order_still_moving_at_the_timeouts_age_is_watched_until_it_is_stuck() -> None:
    """Looked at once as it reaches the age; open then, so watched: the sweep
    that finds it stuck later times it out, and one that finds it done skips it."""
    shop = Shop()
    slow = shop.order(OrderStatus.PLACED)
    done = shop.order(OrderStatus.PLACED)
    shop.now = "2026-01-01T00:14:00.000Z"  # both reserved late, still moving
    slow, _ = shop.orders.record(slow, StockReserved())
    done, _ = shop.orders.record(done, StockReserved())
    assert shop.ops.sweep_stuck_sagas(at("2026-01-01T00:15:01Z")).timed_out == []
    assert {o.orderId for o in shop.orders.stuck("2026-01-01T00:30:00.000Z").orders} == {
        slow.orderId,
        done.orderId,
    }  # watched
    for happened in (
        PaymentCaptured(chargeId="ch", amountCents=100),
        OrderShipped(trackingNumber="T"),
        OrderCompleted(),
    ):
        done, _ = shop.orders.record(done, happened)  # terminal

    report = shop.ops.sweep_stuck_sagas(at("2026-01-01T00:29:01Z"))
    assert report.timed_out == [slow.orderId]
    assert shop.orders.current(done.orderId).status is OrderStatus.COMPLETED


def test_the_sweep_looks_at_an_order_once_then_watches_it() -> None:
    shop = Shop()
    order = shop.order(OrderStatus.SHIPPED)
    shop.ops.sweep_stuck_sagas(at("2026-01-01T00:15:01Z"))  # stuck SHIPPED: alerted, watched
    assert shop.repo.aged("2026-01-01T01:00:00.000Z", 100, None).orders == []  # looked at once
    stuck = shop.orders.stuck("2026-01-01T01:00:00.000Z").orders
    assert [o.orderId for o in stuck] == [order.orderId]  # ... and watched
    shop.orders.record(shop.orders.current(order.orderId), OrderCompleted())
    assert shop.orders.stuck("2026-01-01T01:30:00.000Z").orders == []


def test_a_sweep_that_stopped_after_its_look_leaves_the_order_to_the_next() -> None:
    shop = Shop()
    order = shop.order(OrderStatus.RESERVED)
    shop.repo.aged("2026-01-01T00:00:01.000Z", 100, None)  # looked, then the run died
    report = shop.ops.sweep_stuck_sagas(at("2026-01-01T00:15:02Z"))
    assert report.timed_out == [order.orderId]
