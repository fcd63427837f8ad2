"""What the inventory use cases need from storage: the role, not the technology."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.catalog.model import (
    ImageEntry,
    Line,
    Product,
    ProductDetails,
    ProductImage,
    ReservationOutcome,
)
from chalicelib.platform import errors


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    last_key: dict[str, Any] | None


@dataclass(frozen=True)
class ImageState:
    """A product's image entries as read, with the version a write must find."""

    version: int
    entries: dict[str, ImageEntry]


@dataclass(frozen=True)
class StockChange:
    """Why the stock moved by hand (a restock or an adjustment), kept on the
    product item so the products stream carries it with the change."""

    reason: str
    by: str | None = None


class StockConflict(errors.Conflict):
    """A condition on the stock failed; ``current`` is the stock it found."""

    def __init__(self, message: str, current: int) -> None:
        super().__init__(message)
        self.current = current


class CatalogRepository(Protocol):
    """Stock moves only by deltas under conditions (never by a whole-item
    write): reservations and releases, ``adjust_stock``, and a product's
    initial stock in ``create``."""

    def create(self, product: Product) -> Product | None:
        """Store a new product; None (and nothing written) if the sku exists."""

    def update_details(
        self, sku: str, details: ProductDetails, expected_stock: int | None, at: str
    ) -> Product:
        """Change everything but the stock. NotFound if there is no such
        product; StockConflict if ``expected_stock`` is given and is not the
        current stock."""

    def get(self, sku: str) -> Product | None: ...

    def get_many(self, skus: list[str]) -> dict[str, Product]: ...

    def list_products(self, limit: int, start: dict[str, Any] | None) -> ProductPage: ...

    def adjust_stock(self, sku: str, delta: int, at: str, change: StockChange) -> Product:
        """Add ``delta`` (non-zero, may be negative). NotFound if there is no
        such product; StockConflict if the stock would leave 0..MAX_STOCK."""

    def reserve(self, order_id: str, lines: list[Line], at: str) -> ReservationOutcome: ...

    def release(self, order_id: str, at: str) -> list[Line] | None:
        """Return the released lines, or None if nothing was (still) held."""

    def ship(self, order_id: str, at: str) -> list[Line] | None:
        """The order's reserved units left the warehouse: they stop counting
        against the stock cap, and can no longer be released. Returns the
        lines, or None if nothing was (still) held."""

    def image_state(self, sku: str) -> ImageState | None:
        """The product's image entries (None: no such product)."""
        ...

    def set_images(
        self,
        sku: str,
        expected_version: int,
        entries: dict[str, ImageEntry],
        primary: ProductImage | None,
        at: str,
    ) -> bool:
        """Store the entries and the primary image if the product is still at
        ``expected_version`` (+1 on it); False if it changed meanwhile."""
        ...
