"""What the inventory use cases need from storage: the role, not the technology."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.catalog.model import Line, Product, ReservationOutcome


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    last_key: dict[str, Any] | None


class CatalogRepository(Protocol):
    def put(self, product: Product) -> Product: ...

    def get(self, sku: str) -> Product | None: ...

    def get_many(self, skus: list[str]) -> dict[str, Product]: ...

    def list_products(self, limit: int, start: dict[str, Any] | None) -> ProductPage: ...

    def add_stock(self, sku: str, quantity: int, at: str) -> Product: ...

    def reserve(self, order_id: str, lines: list[Line], at: str) -> ReservationOutcome: ...

    def release(self, order_id: str, at: str) -> list[Line] | None:
        """Return the released lines, or None if nothing was (still) held."""
