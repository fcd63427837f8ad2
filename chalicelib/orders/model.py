"""The order: commands, state machine and event history. Standard library and
pydantic only."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.platform.types import Sku

_COUNTRY = re.compile(r"^[A-Z]{2}$")


class OrderStatus(StrEnum):
    PLACED = "PLACED"
    RESERVED = "RESERVED"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({OrderStatus.COMPLETED, OrderStatus.REJECTED, OrderStatus.CANCELLED})
CANCELLABLE = frozenset({OrderStatus.PLACED, OrderStatus.RESERVED, OrderStatus.PAID})


class EventType(StrEnum):
    ORDER_PLACED = "OrderPlaced"
    STOCK_RESERVED = "StockReserved"
    ORDER_REJECTED = "OrderRejected"
    PAYMENT_CAPTURED = "PaymentCaptured"
    PAYMENT_DECLINED = "PaymentDeclined"
    STOCK_RELEASED = "StockReleased"
    ORDER_SHIPPED = "OrderShipped"
    ORDER_COMPLETED = "OrderCompleted"
    ORDER_CANCELLED = "OrderCancelled"
    PAYMENT_REFUNDED = "PaymentRefunded"
    PAYMENT_VOIDED = "PaymentVoided"
    CANCELLATION_COMPLETED = "CancellationCompleted"


class OpenPayment(StrEnum):
    """What a cancelled order still waits for from the payments step."""

    # Cancelled while RESERVED: a charge may be in flight, or taken and not
    # recorded. Settled by PaymentVoided (nothing taken, none can be) or
    # PaymentRefunded (the capture went back).
    CHARGE = "CHARGE"
    # Cancelled when PAID: the recorded capture must go back (PaymentRefunded).
    CAPTURE = "CAPTURE"


_CANCELLING = frozenset({OrderStatus.CANCELLING})

# event -> (statuses it may follow, status it leads to). PaymentDeclined and
# OrderCancelled start the compensation (CANCELLING); StockReleased and the
# payment's settlement (PaymentRefunded or PaymentVoided) change no status; the
# step that records the last of them adds CancellationCompleted in the same
# write, and only then is the order CANCELLED (see GUARDS).
TRANSITIONS: dict[EventType, tuple[frozenset[OrderStatus], OrderStatus | None]] = {
    EventType.STOCK_RESERVED: (frozenset({OrderStatus.PLACED}), OrderStatus.RESERVED),
    EventType.ORDER_REJECTED: (frozenset({OrderStatus.PLACED}), OrderStatus.REJECTED),
    EventType.PAYMENT_CAPTURED: (frozenset({OrderStatus.RESERVED}), OrderStatus.PAID),
    EventType.PAYMENT_DECLINED: (frozenset({OrderStatus.RESERVED}), OrderStatus.CANCELLING),
    EventType.ORDER_SHIPPED: (frozenset({OrderStatus.PAID}), OrderStatus.SHIPPED),
    EventType.ORDER_COMPLETED: (frozenset({OrderStatus.SHIPPED}), OrderStatus.COMPLETED),
    EventType.ORDER_CANCELLED: (CANCELLABLE, OrderStatus.CANCELLING),
    EventType.STOCK_RELEASED: (_CANCELLING, None),
    EventType.PAYMENT_REFUNDED: (_CANCELLING, None),
    EventType.PAYMENT_VOIDED: (_CANCELLING, None),
    EventType.CANCELLATION_COMPLETED: (_CANCELLING, OrderStatus.CANCELLED),
}

# The payment a cancel leaves open, by the status it cancels: a PLACED order
# has no StockReserved event, so no charge can ever start for it.
_OPEN_ON_CANCEL = {
    OrderStatus.RESERVED: OpenPayment.CHARGE,
    OrderStatus.PAID: OpenPayment.CAPTURE,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class OrderLineInput(_Strict):
    sku: Sku
    quantity: int = Field(ge=1, le=1000, strict=True)


class ShippingAddress(_Strict):
    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postalCode: str = Field(min_length=1, max_length=20)  # noqa: N815 - API field
    country: str = Field(pattern=r"^[A-Z]{2}$")

    @field_validator("country")
    @classmethod
    def _alpha2(cls, value: str) -> str:
        # The assigned codes of ISO 3166-1 (the iso3166 package's table): a
        # code of the right shape that names no country, such as XX, is refused.
        from iso3166 import countries_by_alpha2  # only where an address is validated

        if not _COUNTRY.match(value) or value not in countries_by_alpha2:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code such as 'DE'")
        return value


class PlaceOrder(_Strict):
    items: list[OrderLineInput] = Field(min_length=1, max_length=50)
    paymentToken: str = Field(min_length=1, max_length=200)  # noqa: N815
    shippingAddress: ShippingAddress  # noqa: N815

    @model_validator(mode="after")
    def _distinct_skus(self) -> PlaceOrder:
        seen: set[str] = set()
        for line in self.items:
            if line.sku in seen:
                raise ValueError(f"sku {line.sku} appears more than once")
            seen.add(line.sku)
        return self


class OrderLine(BaseModel):
    sku: str
    quantity: int
    unitPriceCents: int  # noqa: N815
    lineTotalCents: int  # noqa: N815


class Order(BaseModel):
    model_config = ConfigDict(frozen=True)

    orderId: str  # noqa: N815
    customerId: str  # noqa: N815
    status: OrderStatus
    items: list[OrderLine]
    totalCents: int  # noqa: N815
    shippingAddress: ShippingAddress  # noqa: N815
    reason: str | None = None
    trackingNumber: str | None = None  # noqa: N815
    createdAt: str  # noqa: N815
    updatedAt: str  # noqa: N815
    version: int
    # Internal (not in the API): whether the order holds its lines' stock
    # (taken with StockReserved, in the same write; given back with
    # StockReleased or gone for good with OrderShipped, likewise), and the
    # compensation's progress while CANCELLING.
    stockHeld: bool = False  # noqa: N815
    stockReleased: bool = False  # noqa: N815
    openPayment: OpenPayment | None = None  # noqa: N815


INTERNAL_FIELDS = frozenset({"stockHeld", "stockReleased", "openPayment"})

# Conditions beyond the status: each compensation lands once, and the
# cancellation completes only once every compensation it needs has landed.
GUARDS: dict[EventType, Callable[[Order], bool]] = {
    EventType.STOCK_RELEASED: lambda o: not o.stockReleased,
    EventType.PAYMENT_REFUNDED: lambda o: o.openPayment is not None,
    EventType.PAYMENT_VOIDED: lambda o: o.openPayment is OpenPayment.CHARGE,
    EventType.CANCELLATION_COMPLETED: lambda o: o.stockReleased and o.openPayment is None,
}


class OrderEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    type: EventType
    at: str
    data: dict[str, Any] = Field(default_factory=dict)


class InvalidTransition(Exception):
    def __init__(self, order: Order, event: EventType) -> None:
        super().__init__(f"{event} cannot follow {order.status} (order {order.orderId})")
        self.order = order
        self.event = event


def can_apply(order: Order, event: EventType) -> bool:
    allowed, _ = TRANSITIONS[event]
    guard = GUARDS.get(event)
    return order.status in allowed and (guard is None or guard(order))


def apply(order: Order, event: OrderEvent) -> Order:
    """The state after ``event``: the one fold used for writes and replay."""
    if event.version != order.version + 1:
        raise ValueError(f"event version {event.version} does not follow {order.version}")
    if not can_apply(order, event.type):
        raise InvalidTransition(order, event.type)
    _, target = TRANSITIONS[event.type]
    changes: dict[str, Any] = {"version": event.version, "updatedAt": event.at}
    if target is not None:
        changes["status"] = target
    if "reason" in event.data:
        changes["reason"] = event.data["reason"]
    if "trackingNumber" in event.data:
        changes["trackingNumber"] = event.data["trackingNumber"]
    changes.update(_compensation(order, event.type))
    return order.model_copy(update=changes)


def _compensation(order: Order, event: EventType) -> dict[str, Any]:
    """The internal fields ``event`` changes: the stock held, the compensation."""
    if event is EventType.STOCK_RESERVED:
        return {"stockHeld": True}
    if event is EventType.ORDER_SHIPPED:
        return {"stockHeld": False}
    if event is EventType.ORDER_CANCELLED:
        return {"openPayment": _OPEN_ON_CANCEL.get(order.status)}
    if event is EventType.STOCK_RELEASED:
        return {"stockReleased": True, "stockHeld": False}
    if event in (EventType.PAYMENT_REFUNDED, EventType.PAYMENT_VOIDED):
        return {"openPayment": None}
    return {}


def initial(event: OrderEvent) -> Order:
    """The order an ``OrderPlaced`` event creates."""
    if event.type is not EventType.ORDER_PLACED or event.version != 1:
        raise ValueError("an order's history starts with OrderPlaced, version 1")
    d = event.data
    return Order(
        orderId=d["orderId"],
        customerId=d["customerId"],
        status=OrderStatus.PLACED,
        items=[OrderLine(**line) for line in d["items"]],
        totalCents=d["totalCents"],
        shippingAddress=ShippingAddress(**d["shippingAddress"]),
        createdAt=event.at,
        updatedAt=event.at,
        version=1,
    )


def replay(events: list[OrderEvent]) -> Order:
    ordered = sorted(events, key=lambda e: e.version)
    if not ordered:
        raise ValueError("no events")
    order = initial(ordered[0])
    for event in ordered[1:]:
        order = apply(order, event)
    return order
