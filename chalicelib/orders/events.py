"""The order's domain events: one class per event, named in the past tense,
each with the data it carries; and the envelope they travel in.

An event is stored as ``OrderEvent`` (version, type, at, data) and its data is
validated against the class of its type, so a step cannot record a
``PaymentCaptured`` without its charge id. Standard library and pydantic only.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.orders.model import EventType, OrderLine, ShippingAddress


class DomainEvent(BaseModel):
    """The data of one order event. ``TYPE`` names it in the history."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[EventType]

    def data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class OrderPlaced(DomainEvent):
    TYPE = EventType.ORDER_PLACED
    orderId: str  # noqa: N815
    customerId: str  # noqa: N815
    items: list[OrderLine]
    totalCents: int  # noqa: N815
    shippingAddress: ShippingAddress  # noqa: N815


class StockReserved(DomainEvent):
    TYPE = EventType.STOCK_RESERVED


class OrderRejected(DomainEvent):
    TYPE = EventType.ORDER_REJECTED
    reason: str
    skus: list[str] = Field(default_factory=list)


class PaymentCaptured(DomainEvent):
    TYPE = EventType.PAYMENT_CAPTURED
    chargeId: str | None = None  # noqa: N815
    amountCents: int | None = None  # noqa: N815


class PaymentDeclined(DomainEvent):
    TYPE = EventType.PAYMENT_DECLINED
    reason: str


class ReleasedLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    sku: str
    quantity: int


class StockReleased(DomainEvent):
    TYPE = EventType.STOCK_RELEASED
    lines: list[ReleasedLine] = Field(default_factory=list)


class OrderShipped(DomainEvent):
    TYPE = EventType.ORDER_SHIPPED
    trackingNumber: str  # noqa: N815


class OrderCompleted(DomainEvent):
    TYPE = EventType.ORDER_COMPLETED


class OrderCancelled(DomainEvent):
    """A cancel was accepted: the order is CANCELLING until its compensation
    (stock released, payment settled) has landed."""

    TYPE = EventType.ORDER_CANCELLED
    reason: str


class PaymentRefunded(DomainEvent):
    """A cancelled order's capture went back to the customer."""

    TYPE = EventType.PAYMENT_REFUNDED
    chargeId: str | None = None  # noqa: N815
    amountCents: int | None = None  # noqa: N815


class PaymentVoided(DomainEvent):
    """A cancelled order's payment took nothing, and no late charge can take
    anything (the claim is closed, or the provider declined)."""

    TYPE = EventType.PAYMENT_VOIDED


class CancellationCompleted(DomainEvent):
    """Every compensation of a cancelled order has landed: it is CANCELLED,
    and nothing more happens to it."""

    TYPE = EventType.CANCELLATION_COMPLETED


EVENTS: dict[EventType, type[DomainEvent]] = {
    cls.TYPE: cls
    for cls in (
        OrderPlaced,
        StockReserved,
        OrderRejected,
        PaymentCaptured,
        PaymentDeclined,
        StockReleased,
        OrderShipped,
        OrderCompleted,
        OrderCancelled,
        PaymentRefunded,
        PaymentVoided,
        CancellationCompleted,
    )
}


def typed(event_type: EventType, data: dict[str, Any]) -> DomainEvent:
    """A stored event's data as its class (a ValidationError if it does not fit)."""
    return EVENTS[event_type].model_validate(data)


class OrderEventMessage(BaseModel):
    """The envelope the relay publishes for every appended order event."""

    model_config = ConfigDict(frozen=True)

    type: EventType
    orderId: str  # noqa: N815
    customerId: str  # noqa: N815
    version: int
    at: str
    data: dict[str, Any]
    order: dict[str, Any]  # the order after this event (with the payment token until settled)
    # The business flow this event belongs to (platform.correlation); None
    # for events stored before correlation ids existed.
    correlationId: str | None = None  # noqa: N815


def read_message(record: dict[str, Any]) -> OrderEventMessage:
    """The event in an SQS record's body: an EventBridge event whose
    ``detail`` is the envelope (what the bus's rules deliver), or the
    envelope itself (ValueError or ValidationError if it is neither)."""
    return message_from(json.loads(record["body"]))


def message_from(body: Any) -> OrderEventMessage:
    """``read_message`` for a body already parsed."""
    if isinstance(body, dict) and "detail-type" in body and isinstance(body.get("detail"), dict):
        body = body["detail"]
    return OrderEventMessage.model_validate(body)
