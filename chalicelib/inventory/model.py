"""Products and stock. Standard library and pydantic only."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

SKU_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
Sku = Annotated[str, Field(pattern=SKU_PATTERN)]
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


class ReservationOutcome(BaseModel):
    """What a reservation attempt found: reserved now, reserved before (a
    duplicate delivery), short of stock, or already released (the order was
    cancelled before its reservation ran)."""

    model_config = ConfigDict(frozen=True)

    status: str  # RESERVED | DUPLICATE | SHORT | RELEASED
    short_skus: list[str] = Field(default_factory=list)
