"""What the analytics routes return, as the OpenAPI document describes it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Day(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: str = Field(description="the UTC day (YYYY-MM-DD) the orders were placed")
    orders: int = Field(ge=0, description="orders placed that day")
    completed: int = Field(ge=0, description="of those, completed")
    rejected: int = Field(ge=0, description="of those, rejected (not enough stock)")
    cancelled: int = Field(ge=0, description="of those, cancelled (declined or by a cancel)")
    revenueCents: int = Field(ge=0, description="total of the completed ones")  # noqa: N815
    units: int = Field(ge=0, description="units ordered that day")


class ProductSales(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    unitsSold: int = Field(ge=0, description="units in completed orders")  # noqa: N815
    revenueCents: int = Field(ge=0, description="their line totals")  # noqa: N815
    orders: int = Field(ge=0, description="completed orders with this product")
