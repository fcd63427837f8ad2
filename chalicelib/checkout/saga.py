"""The checkout saga's steps: each reacts to one order event, calls the
services it needs, and records the outcome on the order. Choreographed: SNS
filters route each event type to the step that wants it; no step calls another.

Every step is idempotent: the services it calls are, and ``OrderService.record``
turns a duplicate or out-of-order event into a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from chalicelib.catalog.model import Line, Reservation
from chalicelib.catalog.service import CatalogService
from chalicelib.checkout.shipping import Carrier
from chalicelib.orders.events import (
    OrderCompleted,
    OrderEventMessage,
    OrderRejected,
    OrderShipped,
    PaymentCaptured,
    PaymentDeclined,
    ReleasedLine,
    StockReleased,
    StockReserved,
    read_message,
)
from chalicelib.orders.model import EventType, OrderStatus
from chalicelib.orders.service import OrderService, order_from_snapshot
from chalicelib.payments.model import ChargeStatus
from chalicelib.payments.service import PaymentService
from chalicelib.platform.validation import describe

log = logging.getLogger("eventshop.checkout")


def reserve_or_release(
    msg: OrderEventMessage, orders: OrderService, inventory: CatalogService
) -> None:
    order, token = order_from_snapshot(msg.order)
    if msg.type == EventType.ORDER_PLACED:
        outcome = inventory.reserve(
            order.orderId, [Line(sku=i.sku, quantity=i.quantity) for i in order.items]
        )
        if outcome.status in (Reservation.RESERVED, Reservation.DUPLICATE):
            orders.record(order, StockReserved(), payment_token=token)
        elif outcome.status is Reservation.SHORT:
            # A tombstone: a redelivered OrderPlaced after a restock must not
            # take stock for an order that is already rejected.
            inventory.release(order.orderId)
            reason = "insufficient stock: " + ", ".join(outcome.short_skus)
            _, rejected = orders.record(
                order, OrderRejected(reason=reason, skus=outcome.short_skus)
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
                StockReleased(
                    lines=[ReleasedLine(sku=x.sku, quantity=x.quantity) for x in released or []]
                ),
            )


def take_payment(msg: OrderEventMessage, orders: OrderService, payments: PaymentService) -> None:
    order, token = order_from_snapshot(msg.order)
    if msg.type == EventType.ORDER_CANCELLED:
        payments.cancel(order.orderId)
        return
    if msg.type != EventType.STOCK_RESERVED:
        return
    outcome = payments.charge(order.orderId, order.totalCents, token)
    if outcome.status is ChargeStatus.CAPTURED:
        after, applied = orders.record(
            order, PaymentCaptured(chargeId=outcome.charge_id, amountCents=order.totalCents)
        )
        if not applied and after.status == OrderStatus.CANCELLED:
            # Cancelled while we were charging: give the money back.
            payments.cancel(order.orderId)
    elif outcome.status is ChargeStatus.DECLINED:
        orders.record(order, PaymentDeclined(reason=f"payment declined: {outcome.reason}"))


def ship(msg: OrderEventMessage, orders: OrderService, carrier: Carrier) -> None:
    if msg.type != EventType.PAYMENT_CAPTURED:
        return
    order, _ = order_from_snapshot(msg.order)
    tracking = carrier.ship(order.orderId)
    # Shipped and delivered (the simulated carrier confirms at once): two
    # status changes, two events, one conditional write.
    orders.record_many(order, [OrderShipped(trackingNumber=tracking), OrderCompleted()])


def sqs_batch(
    records: Iterable[Any], step: Callable[[OrderEventMessage], None]
) -> dict[str, list[dict[str, str]]]:
    """Run ``step`` on each SQS record; report the ones that failed, so one
    poison message never retries its neighbours (needs ReportBatchItemFailures)."""
    failures = []
    for record in records:
        raw = record.to_dict()
        try:
            message = read_message(raw)
        except (ValueError, ValidationError) as exc:
            log.error("unreadable message %s: %s", raw.get("messageId"), describe(exc))
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
