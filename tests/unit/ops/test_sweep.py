"""The saga-timeout sweep over the in-memory repositories: which orders it
cancels, which it only reports, and that racing sweeps change nothing twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from chalicelib.catalog.model import Product
from chalicelib.catalog.service import CatalogService
from chalicelib.ops.service import OpsService
from chalicelib.orders.events import OrderShipped, PaymentCaptured, StockReserved
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
        self.orders = OrderService(
            self.repo, CatalogService(catalog_repo, FakeAlerts()), clock=lambda: T0
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
