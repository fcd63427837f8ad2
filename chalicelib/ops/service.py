"""Operations use cases: the saga-timeout sweep.

An order that has not changed for longer than the saga timeout in a status a
step should have moved it out of is compensated the way a failure at that
step would be (``OrderService.time_out``: OrderCancelled, then the steps
release the stock and settle the payment); a SHIPPED or CANCELLING order is
not cancelled (the goods left, or the compensation is under way): it raises
an alert. Every write is conditional on the version the sweep saw, so two
sweeps at once, or a sweep racing a late step, change nothing twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.orders.model import CANCELLABLE, Order, OrderStatus
from chalicelib.orders.ports import Page
from chalicelib.platform.alerts import Alert, AlertKind, AlertRaiser
from chalicelib.platform.clock import iso
from chalicelib.platform.metrics import MetricSink, NoMetrics

log = logging.getLogger("eventshop.ops")

# Statuses a saga step moves an order out of; CANCELLING waits for the
# compensation steps. Terminal statuses never time out.
WATCHED = (
    OrderStatus.PLACED,
    OrderStatus.RESERVED,
    OrderStatus.PAID,
    OrderStatus.SHIPPED,
    OrderStatus.CANCELLING,
)
PAGE = 100
MAX_PAGES = 40  # per run (of 100 open orders each): the next run (5 minutes later) goes on


class Orders(Protocol):
    def stuck(self, before: str, limit: int = 100, start: dict[str, Any] | None = None) -> Page: ...

    def time_out(self, seen: Order, at: str) -> Order | None: ...


@dataclass
class SweepReport:
    timed_out: list[str] = field(default_factory=list)
    alerted: list[str] = field(default_factory=list)


class OpsService:
    def __init__(
        self,
        orders: Orders,
        alerts: AlertRaiser,
        saga_timeout_seconds: int,
        metrics: MetricSink | None = None,
    ) -> None:
        self.orders = orders
        self.alerts = alerts
        self.metrics: MetricSink = metrics or NoMetrics()
        self.timeout = timedelta(seconds=saga_timeout_seconds)

    def sweep_stuck_sagas(self, now: datetime) -> SweepReport:
        """``now``: the scheduled event's time, so the local stack's clock drives it."""
        report = SweepReport()
        before, at = iso(now - self.timeout), iso(now)
        start: dict[str, Any] | None = None
        for _ in range(MAX_PAGES):
            page = self.orders.stuck(before, PAGE, start)
            for order in page.orders:
                if order.status in WATCHED:
                    self._one(order, at, report)
            start = page.last_key
            if start is None:
                break
        log.info("saga sweep at %s: timed out %s; alerted %s", at, report.timed_out, report.alerted)
        return report

    def _one(self, order: Order, at: str, report: SweepReport) -> None:
        stuck = f"{order.status} since {order.updatedAt}"
        data = {"orderId": order.orderId, "status": str(order.status), "since": order.updatedAt}
        if order.status in CANCELLABLE:
            if self.orders.time_out(order, at) is None:
                return  # it moved meanwhile, or another sweep got there first
            report.timed_out.append(order.orderId)
            self.metrics.count("SagaTimeouts")
            subject = f"order {order.orderId} timed out in {order.status} ({stuck})"
            alert_id = f"SAGA_TIMEOUT#{order.orderId}"
        else:
            report.alerted.append(order.orderId)
            subject = f"order {order.orderId} is stuck in {stuck}"
            alert_id = f"SAGA_TIMEOUT#{order.orderId}#{order.status}"
        self.alerts.raise_alert(Alert(AlertKind.SAGA_TIMEOUT, subject, data, alert_id, at))
