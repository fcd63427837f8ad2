"""The order as the API shows it: one public model for the body and the schema."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.orders.model import INTERNAL_FIELDS, OrderStatus, ShippingAddress
from chalicelib.orders.model import Order as StoredOrder
from chalicelib.platform.public import PublicModel


class OrderLine(PublicModel):
    sku: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int


class Order(PublicModel):
    order_id: str
    customer_id: str
    status: OrderStatus
    items: list[OrderLine]
    total_cents: int
    # The address as it was given (the input model: the same shape both ways).
    shipping_address: ShippingAddress
    reason: str | None = Field(description="why it was rejected or cancelled")
    tracking_number: str | None = Field(description="null until shipped")
    created_at: str
    updated_at: str
    version: int

    @classmethod
    def of(cls, order: StoredOrder) -> Order:
        return cls.model_validate(order.model_dump(exclude=set(INTERNAL_FIELDS)))


def public(order: StoredOrder) -> dict[str, Any]:
    """The body of an order response."""
    return Order.of(order).dump()
