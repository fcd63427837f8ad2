"""The catalog: products and their stock. Standard library and pydantic only."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MAX_STOCK = 1_000_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ProductInput(_Strict):
    name: str = Field(min_length=1, max_length=200)
    priceCents: int = Field(ge=0, le=100_000_000, strict=True)  # noqa: N815
    stock: int = Field(ge=0, le=MAX_STOCK, strict=True)
    lowStockThreshold: int = Field(default=0, ge=0, le=MAX_STOCK, strict=True)  # noqa: N815


class Restock(_Strict):
    quantity: int = Field(ge=1, le=MAX_STOCK, strict=True)


class Product(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    name: str
    priceCents: int  # noqa: N815
    stock: int
    lowStockThreshold: int  # noqa: N815
    updatedAt: str  # noqa: N815


class Line(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int


class Reservation(StrEnum):
    RESERVED = "RESERVED"  # taken now
    DUPLICATE = "DUPLICATE"  # taken by an earlier delivery
    SHORT = "SHORT"  # not enough stock: nothing taken
    RELEASED = "RELEASED"  # released (or cancelled) before it ran: nothing taken


class ReservationOutcome(BaseModel):
    """What a reservation attempt found: reserved now, reserved before (a
    duplicate delivery), short of stock, or already released (the order was
    cancelled before its reservation ran)."""

    model_config = ConfigDict(frozen=True)

    status: Reservation
    short_skus: list[str] = Field(default_factory=list)
