"""Customer notifications: one message per milestone per order, on the
customer-notifications topic with the ``customerId`` attribute (subscribers
filter on it), whatever number of times the milestone event is delivered."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.orders.ports import OrderRepository

MILESTONES = {
    "OrderPlaced": "We received your order",
    "OrderRejected": "We could not take your order",
    "PaymentCaptured": "Your payment went through",
    "OrderShipped": "Your order is on its way",
    "OrderCompleted": "Your order was delivered",
    "OrderCancelled": "Your order was cancelled",
    "PaymentDeclined": "Your payment was declined",
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
        out. If the publish fails, the marks are forgotten and the error
        raised, so the redelivery sends them."""
        marked: list[tuple[str, str, tuple[str, str, dict[str, str]]]] = []
        for event_type, order in milestones:
            if event_type not in MILESTONES:
                continue
            order_id = str(order["orderId"])
            if not self.repo.mark_notified(order_id, event_type):
                continue
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
        if not marked:
            return 0
        try:
            self.send([message for _, _, message in marked])
        except Exception:
            for order_id, event_type, _ in marked:
                self.repo.unmark_notified(order_id, event_type)
            raise
        return len(marked)
