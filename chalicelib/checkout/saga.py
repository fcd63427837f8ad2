"""The checkout saga's steps: each reacts to one order event, calls the
services it needs, and records the outcome on the order. Choreographed: the
event bus's rules route each event type to the step that wants it; no step
calls another.

Each step runs under ``orders.consuming.sqs_batch``.
Every step is idempotent: the services it calls are, and ``OrderService.record``
turns a duplicate or out-of-order event into a no-op.

A declined payment or a cancel makes the order CANCELLING, not CANCELLED: the
inventory step releases the stock and records StockReleased; the payments step
voids or refunds the payment and records PaymentVoided or PaymentRefunded
(when cancelled at RESERVED or PAID). Whichever records the last compensation
adds CancellationCompleted (CANCELLED) in the same conditional write, so a
client that reads CANCELLED finds the stock back and the money returned.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from chalicelib.catalog.model import Line
from chalicelib.catalog.service import CatalogService
from chalicelib.checkout.shipping import Carrier
from chalicelib.orders.events import (
    CancellationCompleted,
    DomainEvent,
    OrderCompleted,
    OrderEventMessage,
    OrderRejected,
    OrderShipped,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
    ReleasedLine,
    StockReleased,
    StockReserved,
    message_from,
)
from chalicelib.orders.model import EventType, OpenPayment, Order, OrderStatus
from chalicelib.orders.ports import JointRefused
from chalicelib.orders.service import OrderService, order_from_snapshot
from chalicelib.payments import events as payment_events
from chalicelib.payments.events import PaymentProviderEvent, ProviderEventKind
from chalicelib.payments.model import CancelOutcome, ChargeStatus
from chalicelib.payments.service import PaymentService
from chalicelib.platform import errors

log = logging.getLogger("eventshop.checkout")

# A capture that lands on one of these is given back.
_CANCELLED = frozenset({OrderStatus.CANCELLING, OrderStatus.CANCELLED})


def reserve_or_release(
    msg: OrderEventMessage, orders: OrderService, inventory: CatalogService
) -> None:
    """The inventory step. The stock moves in the same transaction as the
    order's event: StockReserved takes it (only from PLACED, so a duplicate,
    or a cancel that overtook it, takes nothing), StockReleased gives it back
    (once: its guard). There is no reservation record to keep in step."""
    order, token = order_from_snapshot(msg.order)
    lines = [Line(sku=i.sku, quantity=i.quantity) for i in order.items]
    if msg.type == EventType.ORDER_PLACED:
        try:
            orders.record(
                order, StockReserved(), payment_token=token, joined=inventory.taking(lines)
            )
        except JointRefused as refused:
            short = inventory.shortage(lines, refused.reasons)
            reason = "insufficient stock: " + ", ".join(short)
            # Nothing was taken. A redelivered OrderPlaced after a restock
            # finds the order REJECTED and takes nothing either.
            _, rejected = orders.record(order, OrderRejected(reason=reason, skus=short))
            if rejected:
                inventory.alert_shortage(order.orderId, short)
        return
    if msg.type in (EventType.ORDER_CANCELLED, EventType.PAYMENT_DECLINED):
        # CANCELLED only once the stock is back: StockReleased gives it back
        # in its own write. An order cancelled before its reservation holds
        # nothing: its StockReleased moves no stock (and no late OrderPlaced
        # can take any: the order is no longer PLACED).
        current = orders.current(order.orderId)
        if current.stockHeld:
            release = StockReleased(
                lines=[ReleasedLine(sku=x.sku, quantity=x.quantity) for x in lines]
            )
            try:
                _compensated(orders, current, release, inventory.giving_back(lines))
            except JointRefused as refused:
                # A restock took the stock to the maximum while the order held
                # its units: those products are set to the maximum instead
                # (the units past it are dropped). Never more than the cap.
                full = frozenset(inventory.shortage(lines, refused.reasons))
                log.warning(
                    "order %s released stock past the maximum of %s: set to it",
                    order.orderId,
                    ", ".join(sorted(full)),
                )
                _compensated(orders, current, release, inventory.giving_back(lines, full))
        else:
            _compensated(orders, current, StockReleased(lines=[]))


# An order in one of these took its payment, or never will: the payments step
# charges nothing for it. CANCELLING is not here: a cancel may be waiting for
# the settlement of a charge an earlier delivery started.
_PAST_PAYMENT = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
    }
)


def take_payment(msg: OrderEventMessage, orders: OrderService, payments: PaymentService) -> None:
    order, token = order_from_snapshot(msg.order)
    if msg.type == EventType.ORDER_CANCELLED:
        _settle_cancelled(order, orders, payments, _epoch(msg.at))
        return
    if msg.type != EventType.STOCK_RESERVED:
        return
    status = orders.current(order.orderId).status
    if status in _PAST_PAYMENT:
        # Paid, or finished, before this delivery: a redelivery, a redrive, or
        # a late duplicate. Nothing to charge, and nothing that needs the claim,
        # which is why claims may expire (payments.dynamo, TTL).
        log.info("order %s is %s: no charge for a late StockReserved", order.orderId, status)
        return
    outcome = payments.charge(order.orderId, order.totalCents, token, order.customerId)
    if outcome.status is ChargeStatus.CAPTURED:
        after, applied = orders.record(
            order, PaymentCaptured(chargeId=outcome.charge_id, amountCents=order.totalCents)
        )
        if not applied and after.status in _CANCELLED:
            # Cancelled while we were charging: give the money back, then say
            # so (the cancel waits for this). A refund that finds nothing to
            # return means the capture already went back.
            payments.cancel(order.orderId, charge_id=outcome.charge_id)
            refund = PaymentRefunded(chargeId=outcome.charge_id, amountCents=order.totalCents)
            _compensated(orders, after, refund)
    elif outcome.status is ChargeStatus.PENDING:
        # The provider decides later (3-D Secure, a slow bank): the order
        # stays RESERVED and the provider's webhook settles it (hear_payment);
        # the saga timeout cancels it if that never comes.
        log.info("order %s: payment %s awaits the provider", order.orderId, outcome.charge_id)
    elif outcome.status is ChargeStatus.DECLINED:
        after, applied = orders.record(
            order, PaymentDeclined(reason=f"payment declined: {outcome.reason}")
        )
        if not applied:
            # Cancelled while we were charging, and the provider took nothing.
            _compensated(orders, after, PaymentVoided())
    else:
        _settle_voided_charge(order, orders, payments)


def read_payments(record: dict[str, Any]) -> OrderEventMessage | PaymentProviderEvent:
    """A payments queue record: an order event, or the provider's (by source)."""
    body = json.loads(record["body"])
    if isinstance(body, dict) and body.get("source") == payment_events.SOURCE:
        return PaymentProviderEvent.model_validate(body.get("detail"))
    return message_from(body)


def payments_step(
    message: OrderEventMessage | PaymentProviderEvent,
    orders: OrderService,
    payments: PaymentService,
) -> None:
    """The payments queue's step: order events charge or compensate; the
    provider's own events (its webhooks, on the bus) settle what it decided later."""
    if isinstance(message, PaymentProviderEvent):
        hear_payment(message, orders, payments)
    else:
        take_payment(message, orders, payments)


def hear_payment(
    event: PaymentProviderEvent, orders: OrderService, payments: PaymentService
) -> None:
    """What the payment provider decided later (its webhook, on the bus), on
    the payments step's own path. Idempotent and order-independent: every
    change is conditional on the order's state, so a duplicate, or an event
    for an order that moved on, changes nothing."""
    try:
        order = orders.current(event.orderId)
    except errors.NotFound:
        log.warning(
            "%s event %s names order %s, which does not exist: ignored",
            event.provider,
            event.eventId,
            event.orderId,
        )
        return
    if event.kind is ProviderEventKind.REFUNDED:
        log.info(
            "%s confirms the refund of %s (%s cents) for order %s (%s)",
            event.provider,
            event.chargeId,
            event.amountCents,
            order.orderId,
            order.status,
        )
        return
    if event.kind is ProviderEventKind.SUCCEEDED:
        if order.status is OrderStatus.RESERVED:
            captured = PaymentCaptured(chargeId=event.chargeId, amountCents=order.totalCents)
            order, applied = orders.record(order, captured)
            if applied:
                return
        if order.status in _CANCELLED and order.openPayment is OpenPayment.CHARGE:
            # Cancelled while the provider was deciding, and it took the
            # money: give it back, then settle the cancel.
            payments.cancel(order.orderId, charge_id=event.chargeId)
            refund = PaymentRefunded(chargeId=event.chargeId, amountCents=order.totalCents)
            _compensated(orders, order, refund)
        return
    # FAILED: declined after all (authentication failed, the bank refused).
    if order.status is OrderStatus.RESERVED:
        declined = PaymentDeclined(reason=f"payment declined: {event.reason or 'declined'}")
        order, applied = orders.record(order, declined)
        if applied:
            return
    if order.status in _CANCELLED and order.openPayment is OpenPayment.CHARGE:
        _compensated(orders, order, PaymentVoided())  # nothing was taken


def _epoch(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


def _settle_cancelled(
    order: Order, orders: OrderService, payments: PaymentService, cancelled_at: float
) -> None:
    """The payments step's part of a cancel: void a future charge or refund a
    capture, and record it when the outcome is certain. NOTHING for a claimed
    charge without a recorded capture is not: that charge may still be at the
    provider, and the delivery that claimed it records the settlement once the
    provider has answered (take_payment); until then the order is CANCELLING."""
    settlement = _settlement(payments.cancel(order.orderId, cancelled_at), order)
    if settlement is not None:
        _compensated(orders, order, settlement)


def _settle_voided_charge(order: Order, orders: OrderService, payments: PaymentService) -> None:
    """A StockReserved whose charge a cancel had already closed: this delivery
    charged nothing. If the cancel still waits for the payment (an earlier
    delivery claimed the charge and did not live to settle it), give back
    whatever that one captured, and settle."""
    current = orders.current(order.orderId)
    if current.openPayment is None:
        return
    settlement = _settlement(payments.cancel(order.orderId), current)
    # NOTHING here: nothing is captured, and no charge can start on a closed claim.
    _compensated(orders, current, PaymentVoided() if settlement is None else settlement)


def _settlement(outcome: CancelOutcome, order: Order) -> DomainEvent | None:
    """The event that settles a cancelled order's payment after ``outcome``;
    None when NOTHING leaves it open (a claimed charge, nothing captured yet)."""
    if outcome is CancelOutcome.REFUNDED or order.openPayment is OpenPayment.CAPTURE:
        # The capture went back, now or on an earlier delivery (a recorded
        # capture that finds nothing to refund was refunded already).
        return PaymentRefunded(amountCents=order.totalCents)
    if outcome is CancelOutcome.VOIDED:
        return PaymentVoided()  # no charge had been claimed: a late one takes nothing
    return None


def _compensated(
    orders: OrderService, order: Order, compensation: DomainEvent, joined: object | None = None
) -> None:
    """Record one compensation of a cancelled order (with ``joined``, the
    stock it gives back); if it is the last one, CancellationCompleted goes
    into the same conditional write. A duplicate, or an order not waiting
    for it, is a no-op."""
    orders.record_many(order, [compensation, CancellationCompleted()], joined)


def ship(msg: OrderEventMessage, orders: OrderService, carrier: Carrier) -> None:
    """The shipping step: one conditional write of the order; no stock
    moves (the units left the stock at the reservation)."""
    if msg.type != EventType.PAYMENT_CAPTURED:
        return
    order, _ = order_from_snapshot(msg.order)
    tracking = carrier.ship(order.orderId, order.shippingAddress.postalCode)
    # Shipped and delivered (the simulated carrier confirms at once): two
    # status changes, two events, one conditional write.
    orders.record_many(order, [OrderShipped(trackingNumber=tracking), OrderCompleted()])
