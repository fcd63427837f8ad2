"""The order saga's steps: each reacts to one order event, calls the services
it needs, and records the outcome on the order. Choreographed: SNS filters
route each event type to the step that wants it; no step calls another.

Every step is idempotent: the services it calls are, and ``OrderService.record``
turns a duplicate or out-of-order event into a no-op.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from chalicelib.events import OrderEventMessage
from chalicelib.inventory.model import Line
from chalicelib.inventory.service import InventoryService
from chalicelib.orders.model import EventType, OrderStatus
from chalicelib.orders.notifications import CustomerNotifier
from chalicelib.orders.service import OrderService, order_from_snapshot
from chalicelib.payments.service import PaymentService
from chalicelib.shipping import Carrier

log = logging.getLogger("eventshop.saga")


def _why(exc: Exception) -> str:
    """Why a message is unreadable, without its input: it carries the payment token."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
    return type(exc).__name__


def reserve_or_release(
    msg: OrderEventMessage, orders: OrderService, inventory: InventoryService
) -> None:
    order, token = order_from_snapshot(msg.order)
    if msg.type == EventType.ORDER_PLACED:
        outcome = inventory.reserve(
            order.orderId, [Line(sku=i.sku, quantity=i.quantity) for i in order.items]
        )
        if outcome.status in ("RESERVED", "DUPLICATE"):
            orders.record(order, EventType.STOCK_RESERVED, {}, payment_token=token)
        elif outcome.status == "SHORT":
            # A tombstone: a redelivered OrderPlaced after a restock must not
            # take stock for an order that is already rejected.
            inventory.release(order.orderId)
            reason = "insufficient stock: " + ", ".join(outcome.short_skus)
            _, rejected = orders.record(
                order, EventType.ORDER_REJECTED, {"reason": reason, "skus": outcome.short_skus}
            )
            if rejected:
                inventory.alert_shortage(order.orderId, outcome.short_skus)
        # RELEASED: cancelled before its stock was taken; nothing to do.
        return
    if msg.type in (EventType.ORDER_CANCELLED, EventType.PAYMENT_DECLINED):
        released = inventory.release(order.orderId)
        current = orders.current(order.orderId)
        if current.status == OrderStatus.CANCELLED and not current.stockReleased:
            orders.record(
                current,
                EventType.STOCK_RELEASED,
                {"lines": [line.model_dump() for line in released or []]},
            )


def take_payment(msg: OrderEventMessage, orders: OrderService, payments: PaymentService) -> None:
    order, token = order_from_snapshot(msg.order)
    if msg.type == EventType.ORDER_CANCELLED:
        payments.cancel(order.orderId)
        return
    if msg.type != EventType.STOCK_RESERVED:
        return
    outcome = payments.charge(order.orderId, order.totalCents, token)
    if outcome.status == "CAPTURED":
        after, applied = orders.record(
            order,
            EventType.PAYMENT_CAPTURED,
            {"chargeId": outcome.charge_id, "amountCents": order.totalCents},
        )
        if not applied and after.status == OrderStatus.CANCELLED:
            # Cancelled while we were charging: give the money back.
            payments.cancel(order.orderId)
    elif outcome.status == "DECLINED":
        orders.record(
            order, EventType.PAYMENT_DECLINED, {"reason": f"payment declined: {outcome.reason}"}
        )


def ship(msg: OrderEventMessage, orders: OrderService, carrier: Carrier) -> None:
    if msg.type != EventType.PAYMENT_CAPTURED:
        return
    order, _ = order_from_snapshot(msg.order)
    tracking = carrier.ship(order.orderId)
    # Shipped and delivered (the simulated carrier confirms at once): two
    # status changes, two events, one conditional write.
    orders.record_many(
        order,
        [(EventType.ORDER_SHIPPED, {"trackingNumber": tracking}), (EventType.ORDER_COMPLETED, {})],
    )


def notify(msg: OrderEventMessage, notifier: CustomerNotifier) -> None:
    notifier.notify(msg.type, msg.order)


def notify_batch(
    records: Iterable[Any], notifier: CustomerNotifier
) -> dict[str, list[dict[str, str]]]:
    """The notify step for a whole SQS batch: one publish for all of it.
    Unreadable records fail alone; a failed publish fails the readable ones
    (their marks are undone, so the redelivery sends them once)."""
    failures: list[dict[str, str]] = []
    readable: list[tuple[str, OrderEventMessage]] = []
    for record in records:
        raw = record.to_dict()
        try:
            readable.append(
                (raw["messageId"], OrderEventMessage.model_validate(json.loads(raw["body"])))
            )
        except (ValueError, ValidationError) as exc:
            log.error("unreadable message %s: %s", raw.get("messageId"), _why(exc))
            failures.append({"itemIdentifier": raw["messageId"]})
    if readable:
        try:
            notifier.notify_many([(m.type, m.order) for _, m in readable])
        except Exception:
            log.exception("customer notifications failed for %d message(s)", len(readable))
            failures.extend({"itemIdentifier": message_id} for message_id, _ in readable)
    return {"batchItemFailures": failures}


def sqs_batch(
    records: Iterable[Any], step: Callable[[OrderEventMessage], None]
) -> dict[str, list[dict[str, str]]]:
    """Run ``step`` on each SQS record; report the ones that failed, so one
    poison message never retries its neighbours (needs ReportBatchItemFailures)."""
    failures = []
    for record in records:
        raw = record.to_dict()
        try:
            message = OrderEventMessage.model_validate(json.loads(raw["body"]))
        except (ValueError, ValidationError) as exc:
            log.error("unreadable message %s: %s", raw.get("messageId"), _why(exc))
            failures.append({"itemIdentifier": raw["messageId"]})
            continue
        try:
            step(message)
        except Exception:
            log.exception(
                "%s for order %s failed (receive %s)",
                message.type,
                message.orderId,
                raw.get("attributes", {}).get("ApproximateReceiveCount"),
            )
            failures.append({"itemIdentifier": raw["messageId"]})
    return {"batchItemFailures": failures}
