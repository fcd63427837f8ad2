"""Customer notifications: one message per milestone per order, on the
customer-notifications topic with the ``customerId`` attribute (subscribers
filter on it), whatever number of times the milestone event is delivered.

A cancellation is one milestone, heard when it is complete (CANCELLED: stock
back, money returned), with the reason (the declined payment, or who
cancelled); PaymentDeclined and OrderCancelled only start it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.orders.consuming import whole_batch
from chalicelib.orders.ports import OrderRepository
from chalicelib.platform.failures import FailureRecorder

log = logging.getLogger("eventshop.orders")

# What one SNS PublishBatch request takes.
PUBLISH_BATCH = 10

MILESTONES = {
    "OrderPlaced": "We received your order",
    "OrderRejected": "We could not take your order",
    "PaymentCaptured": "Your payment went through",
    "OrderShipped": "Your order is on its way",
    "OrderCompleted": "Your order was delivered",
    "CancellationCompleted": "Your order was cancelled",
}


class CustomerNotifier:
    def __init__(
        self,
        repo: OrderRepository,
        send: Callable[[list[tuple[str, str, dict[str, str]]]], None],
    ) -> None:
        self.repo = repo
        self.send = send  # [(subject, body, attributes)]: one publish call per batch

    def notify(self, event_type: str, order: dict[str, Any]) -> bool:
        """Send the milestone's notification unless it went out before."""
        return self.notify_many([(event_type, order)]) == 1

    def notify_many(self, milestones: list[tuple[str, dict[str, Any]]]) -> int:
        """Notifications for a batch of milestone events, each at most once,
        published together (one request for up to ten). Returns how many went
        out. If a publish fails, the marks of what it did not send are
        forgotten and the error raised, so the redelivery sends those."""
        # Per order, its milestones in this batch (one marker write for them).
        by_order: dict[str, dict[str, dict[str, Any]]] = {}
        for event_type, order in milestones:
            if event_type in MILESTONES:
                by_order.setdefault(str(order["orderId"]), {}).setdefault(event_type, order)
        marked: list[tuple[str, str, tuple[str, str, dict[str, str]]]] = []
        for order_id, events in by_order.items():
            for event_type in self.repo.mark_notified_many(order_id, list(events)):
                order = events[event_type]
                body = json.dumps(
                    {
                        "type": event_type,
                        "orderId": order_id,
                        "status": order.get("status"),
                        "message": MILESTONES[event_type],
                        "trackingNumber": order.get("trackingNumber"),
                        "reason": order.get("reason"),
                    }
                )
                attributes = {"customerId": str(order["customerId"]), "type": event_type}
                marked.append((order_id, event_type, (MILESTONES[event_type], body, attributes)))
        # One publish request per PUBLISH_BATCH; if one fails, the marks of
        # what it and the rest would have sent are forgotten (what went out
        # before stays marked, so the redelivery sends it no second time).
        for start in range(0, len(marked), PUBLISH_BATCH):
            try:
                self.send([message for _, _, message in marked[start : start + PUBLISH_BATCH]])
            except Exception:
                for order_id, event_type, _ in marked[start:]:
                    self.repo.unmark_notified(order_id, event_type)
                raise
        return len(marked)


def notify_batch(
    records: Iterable[Any],
    notifier: CustomerNotifier,
    failures_log: FailureRecorder | None = None,
) -> dict[str, list[dict[str, str]]]:
    """The notify step for a whole SQS batch: one publish for all of it.
    Unreadable records fail alone; a failed publish fails the readable ones
    (their marks are undone, so the redelivery sends them once). Each
    failure's reason goes to ``failures_log``."""
    return whole_batch(
        records,
        lambda messages: notifier.notify_many([(m.type, m.order) for m in messages]),
        failures_log,
        name="notify",
    )
