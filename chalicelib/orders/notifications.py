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
        self, repo: OrderRepository, send: Callable[[str, str, dict[str, str]], None]
    ) -> None:
        self.repo = repo
        self.send = send  # (subject, body, attributes)

    def notify(self, event_type: str, order: dict[str, Any]) -> bool:
        """Send the milestone's notification unless it went out before."""
        if event_type not in MILESTONES:
            return False
        order_id = str(order["orderId"])
        if not self.repo.mark_notified(order_id, event_type):
            return False
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
        try:
            self.send(
                MILESTONES[event_type],
                body,
                {"customerId": str(order["customerId"]), "type": event_type},
            )
        except Exception:
            # Not sent: forget the mark so the redelivery sends it.
            self.repo.unmark_notified(order_id, event_type)
            raise
        return True
